"""CIS Docker Benchmark v1.6.0 section 1: host configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import AUDIT_RULES_FILE, host_var, run_ok


def ebs_by_id_link(volume_id: str) -> str:
    """udev's name of an EBS volume on Nitro: its id without the dash after "vol"."""
    return "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_" + volume_id.replace("-", "", 1)


def configured_data_device(host) -> str:
    """The device the play was given: by EBS volume id (resolved here), else by path."""
    volume_id = host_var(host, "docker_storage_ebs_volume_id", "")
    if volume_id:
        return run_ok(host, "readlink", "-e", ebs_by_id_link(volume_id)).strip()
    return host_var(host, "docker_storage_device", "")


def test_cis_1_1_1_docker_data_partition(host):
    # /var/lib/docker is its own mount: a volume in the default scenario, the
    # configured device (an EBS volume on EC2) where one is given.
    assert host.mount_point("/var/lib/docker").exists
    device = configured_data_device(host)
    if device:
        source = run_ok(host, "findmnt", "-no", "SOURCE", "/var/lib/docker").strip()
        assert run_ok(host, "readlink", "-e", source).strip() == device
        uuid = run_ok(host, "blkid", "-s", "UUID", "-o", "value", device).strip()
        fstab = host.file("/etc/fstab").content_string.splitlines()
        assert any(line.split()[:2] == [f"UUID={uuid}", "/var/lib/docker"] for line in fstab)


def test_cis_1_1_1_device_found_by_ebs_volume_id(host):
    volume_id = host_var(host, "docker_storage_ebs_volume_id", "")
    if not volume_id:
        pytest.skip("no EBS volume id configured for this host")
    # molecule/storage: the launch-time name (docker_storage_device, /dev/xvdf)
    # does not exist, as on Nitro without amazon-ec2-utils; only the id finds it.
    by_path = host_var(host, "docker_storage_device", "")
    assert not by_path or not host.file(by_path).exists, f"{by_path} exists: the id is not needed"
    device = configured_data_device(host)
    assert run_ok(host, "stat", "-c", "%F", device).strip() == "block special file"
    assert run_ok(host, "findmnt", "-no", "UUID", "/var/lib/docker").strip() == (
        run_ok(host, "blkid", "-s", "UUID", "-o", "value", device).strip()
    )


def test_cis_1_1_1_existing_data_moved_to_device(host):
    if not configured_data_device(host):
        pytest.skip("no data device configured for this host")
    # Written to the root filesystem before the play ran (molecule/storage/prepare.yml).
    assert host.file("/var/lib/docker/dockhard-migration-marker").exists


def test_cis_1_1_2_docker_group_members(host):
    members = run_ok(host, "getent", "group", "docker").strip().split(":")[3]
    listed = host_var(host, "docker_engine_group_members", [])
    assert sorted(filter(None, members.split(","))) == sorted(listed)


def unit_path(host, unit: str) -> str:
    return run_ok(host, "systemctl", "show", "--property=FragmentPath", "--value", unit).strip()


def rules_file(host) -> list[str]:
    return host.file(AUDIT_RULES_FILE).content_string.splitlines()


def assert_watched(host, kernel_rules: list[str], path: str) -> None:
    """The path is watched for rwxa in the rule file and in the kernel's loaded rules."""
    wanted = f"-w {path} -p rwxa -k docker"
    assert wanted in rules_file(host), f"{path} is not in the audit rule file"
    assert wanted in kernel_rules, f"{path} is not among the rules the kernel loaded"


def assert_watched_if_present(host, kernel_rules: list[str], *paths: str) -> None:
    present = [p for p in paths if host.file(p).exists]
    for path in present:
        assert_watched(host, kernel_rules, path)
    if not present:
        assert not any(f"-w {p} " in line for p in paths for line in rules_file(host))


def test_cis_1_1_3_audit_dockerd(host, kernel_audit_rules):
    # The scanner looks for the literal /usr/bin/dockerd; Debian installs /usr/sbin/dockerd.
    assert_watched(host, kernel_audit_rules, "/usr/bin/dockerd")
    assert_watched(host, kernel_audit_rules, host.check_output("readlink -f $(command -v dockerd)"))


def test_cis_1_1_4_audit_run_containerd(host, kernel_audit_rules):
    assert_watched(host, kernel_audit_rules, "/run/containerd")


def test_cis_1_1_5_audit_var_lib_docker(host, kernel_audit_rules):
    assert_watched(host, kernel_audit_rules, "/var/lib/docker")


def test_cis_1_1_6_audit_etc_docker(host, kernel_audit_rules):
    assert_watched(host, kernel_audit_rules, "/etc/docker")


def test_cis_1_1_7_audit_docker_service(host, kernel_audit_rules):
    assert_watched(host, kernel_audit_rules, unit_path(host, "docker.service"))


def test_cis_1_1_8_audit_containerd_sock(host, kernel_audit_rules):
    assert_watched(host, kernel_audit_rules, "/run/containerd/containerd.sock")


def test_cis_1_1_9_audit_docker_socket(host, kernel_audit_rules):
    assert_watched(host, kernel_audit_rules, unit_path(host, "docker.socket"))


def test_cis_1_1_10_audit_etc_default_docker(host, kernel_audit_rules):
    assert_watched(host, kernel_audit_rules, "/etc/default/docker")


def test_cis_1_1_11_audit_daemon_json(host, kernel_audit_rules):
    assert_watched(host, kernel_audit_rules, "/etc/docker/daemon.json")


def test_cis_1_1_12_audit_containerd_config(host, kernel_audit_rules):
    assert_watched_if_present(host, kernel_audit_rules, "/etc/containerd/config.toml")


def test_cis_1_1_13_audit_sysconfig_docker(host, kernel_audit_rules):
    # A Red Hat path: absent on Debian, and then it must not be watched (augenrules would fail).
    assert_watched_if_present(host, kernel_audit_rules, "/etc/sysconfig/docker")


def test_cis_1_1_14_audit_containerd_bin(host, kernel_audit_rules):
    assert_watched(
        host, kernel_audit_rules, host.check_output("readlink -f $(command -v containerd)")
    )


def test_cis_1_1_15_audit_containerd_shim(host, kernel_audit_rules):
    assert_watched_if_present(
        host, kernel_audit_rules, "/usr/bin/containerd-shim", "/usr/sbin/containerd-shim"
    )


def test_cis_1_1_16_audit_containerd_shim_runc_v1(host, kernel_audit_rules):
    assert_watched_if_present(
        host,
        kernel_audit_rules,
        "/usr/bin/containerd-shim-runc-v1",
        "/usr/sbin/containerd-shim-runc-v1",
    )


def test_cis_1_1_17_audit_containerd_shim_runc_v2(host, kernel_audit_rules):
    assert_watched(
        host,
        kernel_audit_rules,
        host.check_output("readlink -f $(command -v containerd-shim-runc-v2)"),
    )


def test_cis_1_1_18_audit_runc(host, kernel_audit_rules):
    assert_watched(host, kernel_audit_rules, host.check_output("readlink -f $(command -v runc)"))
    assert_watched_if_present(host, kernel_audit_rules, "/usr/bin/runc")


def test_audit_rules_merged_by_augenrules(host):
    merged = host.file("/etc/audit/audit.rules").content_string
    assert "-w /usr/bin/dockerd -p rwxa -k docker" in merged


def test_no_unmanaged_docker_audit_rule_files(host):
    files = host.check_output("ls /etc/audit/rules.d").split()
    assert [f for f in files if "docker" in f] == [Path(AUDIT_RULES_FILE).name]
