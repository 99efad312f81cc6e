#!/usr/bin/env bash
# Make this checkout ready to run: a venv with the pinned Python packages and a
# reachable Docker engine. Safe to run again; it only does what is missing.
#   usage: scripts/bootstrap.sh [--engine]   (--engine: only the Docker engine step)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

# Pick the newest usable Python: ansible-core 2.20 wants >= 3.12, 2.19 runs on 3.11.
pick_python() {
  local c candidates=()
  [ -n "${DOCKHARD_PYTHON:-}" ] && candidates+=("$DOCKHARD_PYTHON")
  candidates+=(python3.14 python3.13 python3.12)
  if command -v pyenv >/dev/null 2>&1; then
    while read -r c; do candidates+=("$c"); done < <(
      ls -d "$(pyenv root)"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV)
  fi
  candidates+=(python3.11 python3)
  for c in "${candidates[@]}"; do
    if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
      command -v "$c" 2>/dev/null || echo "$c"
      return 0
    fi
  done
  return 1
}

ensure_venv() {
  local stamp="$DOCKHARD_VENV/.requirements.sha256" want py
  want="$(cat "$DOCKHARD_ROOT/requirements.txt" "$DOCKHARD_ROOT/files/app/requirements.txt" | sha256sum | cut -d' ' -f1)"
  if [ -x "$DOCKHARD_VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  py="$(pick_python)" || {
    is_debian_like && apt_install python3 python3-venv && py=python3 ||
      die "no Python >= 3.11 found; install one (or set DOCKHARD_PYTHON)"
  }
  say "creating venv $DOCKHARD_VENV with $("$py" --version 2>&1)"
  if ! "$py" -m venv --clear "$DOCKHARD_VENV" >/dev/null 2>&1; then
    is_debian_like || die "'$py -m venv' failed; install the venv module for $py"
    apt_install python3-venv
    "$py" -m venv --clear "$DOCKHARD_VENV"
  fi
  "$DOCKHARD_VENV/bin/python" -m pip install -q --upgrade pip
  say "installing pinned Python packages (requirements.txt)"
  "$DOCKHARD_VENV/bin/python" -m pip install -q -r "$DOCKHARD_ROOT/requirements.txt"
  # The app's own pins, hash-checked, so its unit tests run against what the image ships.
  "$DOCKHARD_VENV/bin/python" -m pip install -q --require-hashes -r "$DOCKHARD_ROOT/files/app/requirements.txt"
  echo "$want" > "$stamp"
}

# The Docker engine step runs first, before anything is installed, so that a
# user who may not use the engine learns it within seconds. Four cases:
#   an engine answers 'docker info'      -> go on;
#   DOCKER_HOST is set but does not answer -> stop;
#   an engine runs but refuses a non-root user (its socket is root:docker 0660)
#                                        -> stop with the user's three options;
#   no engine runs                       -> install and start one as root, also
#     through sudo, but only for root or a member of the docker group: anyone
#     else could not use the engine started for them.
# A dockerd that runs is never joined by a second one.
ensure_docker() {
  local err pids
  err="$(docker info 2>&1 >/dev/null)" && return 0
  if [ -n "${DOCKER_HOST:-}" ]; then
    die "DOCKER_HOST=$DOCKER_HOST does not answer 'docker info'; start that engine or unset DOCKER_HOST"
  fi
  if ! is_root && [[ "$err" == *"permission denied"* ]]; then
    refuse_user "a Docker engine runs on this machine, but it refuses $(id -un)." "$err"
  fi
  pids="$(dockerd_pids | xargs)"
  if [ -n "$pids" ]; then
    say "dockerd (pid $pids) runs but does not answer yet; waiting for it (not starting another)"
    wait_for_docker "dockerd (pid $pids) runs but did not answer 'docker info' within 60 s: $err"
    return 0
  fi
  if ! is_root && ! in_docker_group; then
    refuse_user "no Docker engine runs. One started for you with sudo would have a root:docker 0660 socket, which refuses $(id -un)." "$err"
  fi
  is_debian_like || die "no Docker engine answers and this is not Debian: install and start Docker, then rerun"
  start_docker
  wait_for_docker "dockerd did not answer within 60 s; see $DOCKHARD_DOCKERD_LOG"
  say "Docker engine is up (log: $DOCKHARD_DOCKERD_LOG)"
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Whether this session (not only the group database) carries the docker group.
in_docker_group() { id -nG | tr ' ' '\n' | grep -qx docker; }

# dockerd processes in our PID namespace: the nested engines of the host
# containers live in their own. A process whose namespace we may not read
# (another user's, as non-root) counts, so that no second engine is started.
dockerd_pids() {
  local f pid ns self
  self="$(readlink /proc/self/ns/pid)"
  for f in $(grep -slx dockerd /proc/[0-9]*/comm); do
    pid="${f#/proc/}" && pid="${pid%/comm}"
    ns="$(readlink "/proc/$pid/ns/pid" 2>/dev/null)" || ns="$self"
    [ "$ns" = "$self" ] && echo "$pid"
  done
  return 0
}

# Stop with the reason and what a non-root user can do about it.
refuse_user() {
  local why="$1" err="$2" user join hint=""
  user="$(id -un)"
  join="sudo usermod -aG docker $user"
  getent group docker >/dev/null || join="sudo groupadd docker && $join"
  if id -nG "$user" | tr ' ' '\n' | grep -qx docker; then
    hint=" ($user is in the docker group, but this login session is not yet)"
  fi
  die "$why
'docker info' says: $err
Choose one:
  - run as root;
  - run with sudo: sudo ./dockhard demo (or the command you ran);
  - join the docker group: $join, then log in again$hint.
    Membership is root-equivalent: a member can start a container that mounts /
    and so act as root on this machine. CIS Docker Benchmark 1.1.2 wants the
    group limited to the users who need it."
}

# Install docker.io when no dockerd binary exists, then start the engine as root.
start_docker() {
  local dockerd
  if ! dockerd="$(find_system_bin dockerd)"; then
    say "installing Debian's docker.io (no Docker engine found)"
    apt_install docker.io
    dockerd="$(find_system_bin dockerd)" || die "docker.io is installed, yet no dockerd binary was found"
  fi
  if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
    say "starting docker through systemd"
    as_root systemctl start docker
  else
    say "starting dockerd in the background (log: $DOCKHARD_DOCKERD_LOG)"
    as_root sh -c "nohup '$dockerd' --host unix:///var/run/docker.sock >>'$DOCKHARD_DOCKERD_LOG' 2>&1 &"
  fi
}

wait_for_docker() {
  local i
  for i in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  die "$1"
}

# Host tools the image builds and the tests use: debootstrap for the host
# images, nsenter to load audit rules from the initial PID namespace, a real
# PostgreSQL server and ping for the app's unit tests.
ensure_tools() {
  local missing=()
  find_system_bin debootstrap >/dev/null || missing+=(debootstrap)
  find_system_bin nsenter >/dev/null || missing+=(util-linux)
  find_system_bin ping >/dev/null || missing+=(iputils-ping)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    apt_install "${missing[@]}"
  fi
}

case "${1:-}" in
  "") ensure_docker; ensure_venv; ensure_tools ;;
  # The engine step alone: its test runs it as other users (tests/unit/test_bootstrap_engine.py).
  --engine) ensure_docker ;;
  *) die "usage: $0 [--engine]" ;;
esac
