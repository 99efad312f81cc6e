#!/usr/bin/env bash
# Build a systemd "EC2-like" host image from Debian's packages, without any
# registry: debootstrap a minimal root, configure it for systemd in a
# container, and `docker import` it. The tag carries a hash of this recipe, so
# an unchanged recipe is never rebuilt.
#   usage: images/host/build.sh SUITE      (SUITE: trixie | bookworm)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"

suite="${1:?usage: $0 trixie|bookworm}"
case "$suite" in trixie|bookworm) ;; *) die "unsupported suite '$suite' (trixie or bookworm)";; esac
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security_mirror="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
repo="${DOCKHARD_HOST_IMAGE_REPO:-dockhard/host}"
here="$(cd "$(dirname "$0")" && pwd)"

# What Ansible and an EC2-like host need; the Docker engine is the play's job.
packages="systemd,systemd-sysv,dbus,python3,python3-apt,sudo,ca-certificates,iproute2,procps,kmod,openssh-client"

recipe_hash="$(cat "$here/build.sh" "$here"/rootfs.sh | sha256sum | cut -c1-12)"
image="$repo:$suite-$recipe_hash"

if docker image inspect "$image" >/dev/null 2>&1; then
  docker tag "$image" "$repo:$suite"
  say "host image $image is current"
  exit 0
fi

command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
workdir="$(mktemp -d "${TMPDIR:-/var/tmp}/dockhard-host.XXXXXX")"
trap 'as_root rm -rf "$workdir"' EXIT
root="$workdir/rootfs"

say "debootstrap $suite into $root (about a minute)"
as_root debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" \
  >"$workdir/debootstrap.log" 2>&1 || { tail -20 "$workdir/debootstrap.log" >&2; die "debootstrap failed"; }

as_root env SUITE="$suite" MIRROR="$mirror" SECURITY_MIRROR="$security_mirror" \
  bash "$here/rootfs.sh" "$root"

say "importing $image"
as_root tar --numeric-owner -C "$root" -c . | docker import \
  --change 'ENV container=docker' \
  --change 'CMD ["/lib/systemd/systemd"]' \
  --change "LABEL org.dockhard.recipe=$recipe_hash org.dockhard.suite=$suite" \
  - "$image" >/dev/null
docker tag "$image" "$repo:$suite"
# Drop images of older recipes of this suite: they are never used again.
docker image ls --format '{{.Repository}}:{{.Tag}}' "$repo" |
  grep -E "^$repo:$suite-[0-9a-f]{12}$" | grep -v -x "$image" | xargs -r docker rmi >/dev/null || true
say "built $image (tagged $repo:$suite)"
