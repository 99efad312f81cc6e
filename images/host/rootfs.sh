#!/usr/bin/env bash
# Configure a debootstrapped root so systemd runs as PID 1 in a container.
#   usage: SUITE=trixie MIRROR=... SECURITY_MIRROR=... rootfs.sh ROOT
set -euo pipefail
root="${1:?root directory}"

# Full apt sources, like a cloud image has (updates and security).
rm -f "$root/etc/apt/sources.list"
cat > "$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES

# Units that make no sense (or hang) inside a container.
for unit in getty@tty1.service console-getty.service serial-getty@.service \
  systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
  systemd-remount-fs.service dev-hugepages.mount sys-fs-fuse-connections.mount \
  systemd-firstboot.service systemd-modules-load.service apt-daily.timer apt-daily-upgrade.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done

# A fresh machine-id on first boot, like a new instance.
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
echo "dockhard-host" > "$root/etc/hostname"

# Keep the image small; the play refreshes the apt cache itself.
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log "$root"/tmp/*
# An empty list directory with a fresh mtime would make apt's cache_valid_time
# believe the cache is current; date it to the epoch, like "never updated".
touch -d @0 "$root/var/lib/apt/lists"
