"""An EBS volume found by its id (plugins/modules/ebs_device.py, on a fake /dev and /sys)
and docker_storage's check of the id."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("ebs", ROOT / "plugins/modules/ebs_device.py")
ebs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ebs)

VOLUME = "vol-0123456789abcdef0"
OTHER = "vol-0fedcba9876543210"


def serial_file(root: Path, name: str, serial: str) -> None:
    path = root / "sys/block" / name / "device/serial"
    path.parent.mkdir(parents=True)
    # The kernel pads the 20-character field with spaces.
    path.write_text(f"{serial:<20}\n")


def device_node(root: Path, name: str) -> Path:
    node = root / "dev" / name
    node.parent.mkdir(parents=True, exist_ok=True)
    node.touch()
    return node


@pytest.mark.parametrize(
    "volume_id", ["vol-0123456789abcdef0", "vol-0123abcd", "vol-00000000000000000"]
)
def test_valid_volume_ids(volume_id):
    assert ebs.valid_volume_id(volume_id)


@pytest.mark.parametrize(
    "volume_id",
    [
        "vol0123456789abcdef0",
        "vol-0123456789ABCDEF0",
        "vol-0123",
        "vol-0123456789abcdef",
        "sg-0123abcd",
        "vol-0123456789abcdef0 ",
        "/dev/xvdf",
        "",
    ],
)
def test_invalid_volume_ids(volume_id):
    assert not ebs.valid_volume_id(volume_id)


def test_serial_and_link_drop_only_the_first_dash():
    assert ebs.nvme_serial(VOLUME) == "vol0123456789abcdef0"
    assert (
        ebs.by_id_link(VOLUME)
        == "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0"
    )


def test_found_by_the_udev_link_resolved_to_the_device(tmp_path):
    node = device_node(tmp_path, "nvme1n1")
    link = Path(ebs.by_id_link(VOLUME, str(tmp_path)))
    link.parent.mkdir(parents=True)
    link.symlink_to("../../nvme1n1")
    device, found_by, _ = ebs.find_device(VOLUME, str(tmp_path))
    assert device == str(node)
    assert found_by == str(link)


def test_found_by_the_nvme_serial_without_udev(tmp_path):
    serial_file(tmp_path, "nvme0n1", "vol0aaaaaaaaaaaaaaaa")
    serial_file(tmp_path, "nvme1n1", ebs.nvme_serial(VOLUME))
    device, found_by, _ = ebs.find_device(VOLUME, str(tmp_path))
    assert device == str(tmp_path / "dev/nvme1n1")
    assert found_by == str(tmp_path / "sys/block/nvme1n1/device/serial")


def test_another_volume_is_not_taken(tmp_path):
    serial_file(tmp_path, "nvme1n1", ebs.nvme_serial(OTHER))
    link = Path(ebs.by_id_link(OTHER, str(tmp_path)))
    link.parent.mkdir(parents=True)
    link.symlink_to(device_node(tmp_path, "nvme1n1"))
    device, looked, serials = ebs.find_device(VOLUME, str(tmp_path))
    assert device is None
    assert serials == {"nvme1n1": ebs.nvme_serial(OTHER)}
    message = ebs.not_found_message(VOLUME, looked, serials)
    assert VOLUME in message
    assert "nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0" in message
    assert "sys/block/nvme*/device/serial" in message
    assert "nvme1n1=vol0fedcba9876543210" in message


def test_nothing_to_find_says_so(tmp_path):
    device, looked, serials = ebs.find_device(VOLUME, str(tmp_path))
    assert (device, serials) == (None, {})
    assert "serials found: no NVMe device" in ebs.not_found_message(VOLUME, looked, serials)


PREFLIGHT = """
- name: docker_storage preflight
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: The role's input check
      ansible.builtin.include_role:
        name: docker_storage
        tasks_from: preflight.yml
"""


def run_preflight(tmp_path: Path, volume_id: str) -> subprocess.CompletedProcess:
    playbook = tmp_path / "play.yml"
    playbook.write_text(PREFLIGHT)
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,"]
    argv += [str(playbook), "-e", json.dumps({"docker_storage_ebs_volume_id": volume_id})]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False, timeout=120)


@pytest.mark.parametrize("volume_id", ["", VOLUME])
def test_role_preflight_accepts_no_id_or_a_volume_id(tmp_path, volume_id):
    play = run_preflight(tmp_path, volume_id)
    assert play.returncode == 0, play.stdout[-2000:]


@pytest.mark.parametrize("volume_id", ["vol0123456789abcdef0", "/dev/xvdf", "vol-XYZ"])
def test_role_preflight_refuses_what_is_not_a_volume_id(tmp_path, volume_id):
    play = run_preflight(tmp_path, volume_id)
    assert play.returncode != 0
    assert f"docker_storage_ebs_volume_id {volume_id} is not an EBS volume id" in play.stdout
