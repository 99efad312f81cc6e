#!/usr/bin/python
# dockhard: find the block device of an attached EBS volume by its volume id.
"""Find the block device of an EBS volume on this host by its volume id, read-only.

On Nitro instances an EBS volume is an NVMe device whose serial is the volume
id without its dash (vol-0123... -> vol0123...). udev names it
/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123...; without udev (or
its rules) the serial is still in /sys/block/nvme*/device/serial. The device
name given at launch (/dev/xvdf) exists only where amazon-ec2-utils' rules are
installed, so the id is the name that always works.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: ebs_device
short_description: Find the block device of an attached EBS volume by its volume id
description:
  - Looks for the udev link /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_<id without its
    dash>, then for an NVMe device whose serial (/sys/block/nvme*/device/serial) is that id.
  - Fails naming the id and every place it looked when no device matches.
  - Changes nothing on the host; supports check mode.
options:
  volume_id:
    description: The EBS volume id, e.g. vol-0123456789abcdef0.
    type: str
    required: true
author: dockhard contributors (@dockhard)
"""

EXAMPLES = r"""
- name: Find the data volume's device
  dockhard.docker_hardening.ebs_device:
    volume_id: vol-0123456789abcdef0
  register: ebs

- name: Make a file system on it
  community.general.filesystem:
    dev: "{{ ebs.device }}"
    fstype: ext4
"""

RETURN = r"""
device:
  description: The block device of the volume, links resolved, e.g. /dev/nvme1n1.
  type: str
  returned: success
found_by:
  description: Where the volume was found (the by-id link or the serial file).
  type: str
  returned: success
"""

import glob
import os
import re

from ansible.module_utils.basic import AnsibleModule

VOLUME_ID = re.compile(r"^vol-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
BY_ID_DIR = "dev/disk/by-id"
BY_ID_PREFIX = "nvme-Amazon_Elastic_Block_Store_"
SERIAL_GLOB = "sys/block/nvme*/device/serial"


def valid_volume_id(volume_id: str) -> bool:
    return VOLUME_ID.match(volume_id) is not None


def nvme_serial(volume_id: str) -> str:
    """The NVMe serial of a volume: its id without the dash after "vol"."""
    return volume_id.replace("-", "", 1)


def by_id_link(volume_id: str, root: str = "/") -> str:
    return os.path.join(root, BY_ID_DIR, BY_ID_PREFIX + nvme_serial(volume_id))


def read_serials(root: str = "/") -> dict[str, str]:
    """Serial of every NVMe block device, by device name (nvme1n1 -> vol0123...)."""
    serials = {}
    for path in sorted(glob.glob(os.path.join(root, SERIAL_GLOB))):
        name = path.split(os.sep)[-3]
        with open(path, encoding="ascii", errors="replace") as handle:
            serials[name] = handle.read().strip()
    return serials


def find_device(volume_id: str, root: str = "/") -> tuple[str | None, str, dict[str, str]]:
    """(device or None, where it was found or looked, serials read) for the volume."""
    link = by_id_link(volume_id, root)
    if os.path.lexists(link):
        return os.path.realpath(link), link, {}
    serials = read_serials(root)
    for name, serial in serials.items():
        if serial == nvme_serial(volume_id):
            return (
                os.path.join(root, "dev", name),
                os.path.join(root, "sys/block", name, "device/serial"),
                serials,
            )
    return None, f"{link} and {os.path.join(root, SERIAL_GLOB)}", serials


def not_found_message(volume_id: str, looked: str, serials: dict[str, str]) -> str:
    found = ", ".join(f"{name}={serial}" for name, serial in serials.items()) or "no NVMe device"
    return (
        f"EBS volume {volume_id} is not attached to this host: looked for {looked} "
        f"(serials found: {found}). Attach the volume, or correct docker_storage_ebs_volume_id."
    )


def main() -> None:
    module = AnsibleModule(
        argument_spec={"volume_id": {"type": "str", "required": True}},
        supports_check_mode=True,
    )
    volume_id = module.params["volume_id"]
    if not valid_volume_id(volume_id):
        module.fail_json(
            msg=f"{volume_id!r} is not an EBS volume id (vol- and 8 or 17 hex digits)."
        )
    device, looked, serials = find_device(volume_id)
    if device is None:
        module.fail_json(msg=not_found_message(volume_id, looked, serials), serials=serials)
    module.exit_json(changed=False, device=device, found_by=looked)


if __name__ == "__main__":
    main()
