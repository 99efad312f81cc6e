"""inventory/aws_ec2.yml against the local EC2 API: the documented groups hold the instances."""

from __future__ import annotations

import json

import pytest
from ec2_emulator import ENVIRONMENT, HOSTS, run, tags

INVENTORY = "inventory/aws_ec2.yml"


@pytest.fixture(scope="module")
def expected(instances) -> dict[str, str]:
    """inventory hostname (Name tag, then the instance ID) -> Role tag."""
    return {f"{tags(i)['Name']}_{i['InstanceId']}": tags(i)["Role"] for i in instances}


@pytest.fixture(scope="module")
def listed(aws_env, instances) -> dict:
    result = run(aws_env, "ansible-inventory", "-i", INVENTORY, "--list")
    assert result.rc == 0, result.output
    return json.loads(result.stdout)


def members(listed: dict, group: str) -> set[str]:
    return set(listed.get(group, {}).get("hosts", []))


def test_graph_shows_the_documented_groups(aws_env, expected):
    result = run(aws_env, "ansible-inventory", "-i", INVENTORY, "--graph")
    assert result.rc == 0, result.output
    for group in ("docker_hosts", "app_hosts", f"env_{ENVIRONMENT}"):
        assert f"@{group}:" in result.output
    for host in expected:
        assert host in result.output


def test_docker_hosts_hold_every_role(listed, expected):
    assert len(expected) == len(HOSTS)
    assert members(listed, "docker_hosts") == set(expected)


def test_app_hosts_hold_only_app_hosts(listed, expected):
    assert members(listed, "app_hosts") == {h for h, role in expected.items() if role == "app-host"}
    assert members(listed, "app_hosts")


def test_environment_group(listed, expected):
    assert members(listed, f"env_{ENVIRONMENT}") == set(expected)


@pytest.mark.parametrize("address", ["private", "public"])
def test_ansible_host_and_data_volume(aws_env, instances, address):
    probe = run(
        aws_env,
        "ansible",
        "-i",
        INVENTORY,
        "docker_hosts",
        "-e",
        f"dockhard_ec2_address={address}",
        "-m",
        "ansible.builtin.debug",
        "-a",
        "msg={{ ansible_host }}|{{ docker_storage_device }}|{{ docker_storage_ebs_volume_id }}",
    )
    by_id = {i["InstanceId"]: i for i in instances}
    if address == "public":
        # The test's instances have no public address: the inventory says so instead of guessing.
        assert probe.rc != 0
        assert "has no public IPv4 address" in probe.output
        return
    assert probe.rc == 0, probe.output
    for instance_id, instance in by_id.items():
        # The data volume's id, which docker_storage finds the device by on Nitro instances.
        volumes = {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]}
        expected = f"{instance['PrivateIpAddress']}|/dev/xvdf|{volumes['/dev/xvdf']}"
        assert expected in probe.output, instance_id
        assert volumes["/dev/xvdf"].startswith("vol-")
