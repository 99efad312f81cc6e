# shellcheck shell=bash
# Helpers shared by the scripts in this folder. Source, do not run.

DOCKHARD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKHARD_VENV="${DOCKHARD_VENV:-$DOCKHARD_ROOT/.venv}"
# Where a dockerd started by these scripts logs (there is no systemd journal).
DOCKHARD_DOCKERD_LOG="${DOCKHARD_DOCKERD_LOG:-/var/log/dockhard-dockerd.log}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[31mERROR: %s\033[0m\n' "$*" >&2; exit 1; }

# Run as root, through sudo when we are not root.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root for: $* (run as root or install sudo)"
  fi
}

# A system binary by name: the user's PATH first, then the system folders that a
# non-root user's PATH lacks (Debian puts dockerd and debootstrap in /usr/sbin).
find_system_bin() {
  local dir
  command -v "$1" 2>/dev/null && return 0
  for dir in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
    [ -x "$dir/$1" ] && { echo "$dir/$1"; return 0; }
  done
  return 1
}

is_debian_like() { [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; }

apt_updated=""
apt_install() {
  is_debian_like || die "cannot install $* here: not a Debian-like system; install it yourself"
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
