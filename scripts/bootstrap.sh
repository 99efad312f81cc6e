#!/usr/bin/env bash
# Make this checkout ready to run: a venv with the pinned Python packages and a
# reachable Docker engine. Safe to run again; it only does what is missing.
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

ensure_docker() {
  if docker info >/dev/null 2>&1; then
    return 0
  fi
  if [ -n "${DOCKER_HOST:-}" ]; then
    die "DOCKER_HOST=$DOCKER_HOST does not answer 'docker info'; start that engine or unset DOCKER_HOST"
  fi
  is_debian_like || die "no Docker engine answers and this is not Debian: install and start Docker, then rerun"
  if ! command -v dockerd >/dev/null 2>&1; then
    say "installing Debian's docker.io (no Docker engine found)"
    apt_install docker.io
  fi
  if [ "$(ps -o comm= -p 1 2>/dev/null)" = systemd ]; then
    say "starting docker through systemd"
    as_root systemctl start docker
  else
    say "starting dockerd in the background (log: $DOCKHARD_DOCKERD_LOG)"
    as_root sh -c "nohup dockerd --host unix:///var/run/docker.sock >>'$DOCKHARD_DOCKERD_LOG' 2>&1 &"
  fi
  local i
  for i in $(seq 1 60); do
    docker info >/dev/null 2>&1 && { say "Docker engine is up (log: $DOCKHARD_DOCKERD_LOG)"; return 0; }
    sleep 1
  done
  die "dockerd did not answer within 60 s; see $DOCKHARD_DOCKERD_LOG"
}

# Host tools the image builds and the tests use: debootstrap for the host
# images, nsenter to load audit rules from the initial PID namespace, a real
# PostgreSQL server and ping for the app's unit tests.
ensure_tools() {
  local missing=()
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
  command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    apt_install "${missing[@]}"
  fi
}

ensure_venv
ensure_tools
ensure_docker
