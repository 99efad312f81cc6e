"""A host that already runs Docker, or runs a system dockhard does not support.

The first converge must not surprise its owner: an unsupported system is
refused before any change; turning on userns-remap over existing containers,
images and volumes (which would vanish from the engine's view) is refused and
names them unless the operator opts in; docker group members nobody listed
are named before CIS 1.1.2 removes them.

The host is made for this test only (playbooks/local_host.yml) and removed
afterwards; it runs once, in molecule/faults.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from ansible_recap import parse_recap

pytestmark = pytest.mark.skipif(
    os.environ.get("MOLECULE_SCENARIO_NAME") != "faults",
    reason="makes a host container of its own: runs once, in molecule/faults",
)

NAME = "dockhard-existing-bookworm"
IMAGE = "legacy/busybox:1"
# What the host's owner had before dockhard: Debian's engine, a container with
# a volume, and a CI agent in the docker group.
EXISTING = f"""
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends docker.io >/dev/null
cd "$(mktemp -d)" && apt-get download busybox-static >/dev/null
dpkg-deb -x busybox-static_*.deb root && mkdir -p root/bin
[ -e root/bin/busybox ] || ln -s /usr/bin/busybox root/bin/busybox
ln -s busybox root/bin/sh && ln -s busybox root/bin/sleep
tar -C root -c . | docker import - {IMAGE} >/dev/null
docker volume create legacy-data >/dev/null
docker run -d --name legacy -v legacy-data:/data {IMAGE} sleep 86400 >/dev/null
useradd -M ci-agent && gpasswd -a ci-agent docker >/dev/null
"""
UBUNTU = (
    'NAME="Ubuntu"\\nVERSION_ID="24.04"\\nVERSION="24.04.1 LTS (Noble Numbat)"\\n'
    "VERSION_CODENAME=noble\\nID=ubuntu\\nID_LIKE=debian\\n"
)


def on_host(script: str) -> subprocess.CompletedProcess:
    argv = ["docker", "exec", NAME, "sh", "-c", script]
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def local_host(state: str) -> None:
    hosts = [{"name": NAME, "image": "dockhard/host:bookworm"}]
    extra = json.dumps({"dockhard_local_hosts": hosts, "dockhard_local_host_state": state})
    play = ["ansible-playbook", str(ROOT / "playbooks" / "local_host.yml"), "-e", extra]
    subprocess.run(play, cwd=ROOT, check=True, capture_output=True)


@pytest.fixture(scope="module")
def converge(tmp_path_factory):
    local_host("started")
    connection = {
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    hosts_file = tmp_path_factory.mktemp("existing") / "hosts.json"
    hosts_file.write_text(json.dumps({"docker_hosts": {"hosts": {NAME: connection}}}))

    def run(extra_vars: dict | None = None) -> subprocess.CompletedProcess:
        argv = ["ansible-playbook", "-i", str(hosts_file), str(ROOT / "playbooks" / "site.yml")]
        argv += ["-e", json.dumps(extra_vars or {})]
        return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)

    try:
        made = on_host(EXISTING)
        assert made.returncode == 0, made.stderr
        yield run
    finally:
        local_host("absent")


def words(play: subprocess.CompletedProcess) -> str:
    """The play's output with the YAML callback's line folding undone."""
    return " ".join((play.stdout + play.stderr).split())


@pytest.fixture(scope="module")
def unsupported(converge):
    faked = on_host(f"mv /etc/os-release /root/os-release && printf '{UBUNTU}' > /etc/os-release")
    assert faked.returncode == 0, faked.stderr
    try:
        return converge(), on_host("ls /etc/docker; getent group docker")
    finally:
        on_host("rm /etc/os-release && mv /root/os-release /etc/os-release")


@pytest.fixture(scope="module")
def first_converge(converge, unsupported):
    return converge()


def test_existing_unsupported_system_is_refused_before_any_change(unsupported):
    play, host_state = unsupported
    assert play.returncode != 0
    assert "runs Ubuntu 24.04, which dockhard does not support yet" in words(play)
    assert "Tested platforms: Debian-12, Debian-13" in words(play)
    assert parse_recap(play.stdout)[NAME]["changed"] == 0
    assert "ci-agent" in host_state.stdout  # not even the docker group was touched


def test_existing_userns_remap_over_existing_data_is_refused(first_converge):
    play = first_converge
    assert play.returncode != 0
    text = words(play)
    assert "would vanish from its view" in text
    assert "containers: legacy" in text and "volumes: legacy-data" in text
    assert parse_recap(play.stdout)[NAME]["changed"] == 0


def test_existing_unlisted_docker_group_members_are_named(first_converge):
    assert "removes ci-agent from the docker group" in words(first_converge)


def test_existing_nothing_is_lost_by_the_refusal(first_converge):
    state = on_host(
        "docker inspect --format '{{.State.Running}}' legacy; getent group docker;"
        " test -e /etc/docker/daemon.json && echo daemon.json written"
    )
    running, group, *written = state.stdout.split("\n")
    assert running == "true"
    assert group.endswith(":ci-agent")
    assert not any(written), written


def test_existing_opt_in_converges_and_keeps_the_data_on_disk(converge, first_converge):
    container_id = on_host("docker inspect --format '{{.Id}}' legacy").stdout.strip()
    play = converge({"docker_daemon_userns_over_existing": True})
    assert play.returncode == 0, play.stdout[-3000:]
    info = json.loads(on_host("docker info --format '{{json .SecurityOptions}}'").stdout)
    assert "name=userns" in info
    # Out of the remapped engine's view, still on disk.
    assert on_host(f"test -d /var/lib/docker/containers/{container_id}").returncode == 0
    assert on_host("test -d /var/lib/docker/volumes/legacy-data").returncode == 0
