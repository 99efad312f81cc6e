"""CIS Docker Benchmark v1.6.0 section 3: ownership and modes of the daemon's files."""

from __future__ import annotations

import pytest
from conftest import run_ok


def unit_file(host, unit: str):
    return host.file(
        run_ok(host, "systemctl", "show", "--property=FragmentPath", "--value", unit).strip()
    )


def assert_owner(f, user="root", group="root"):
    assert f.exists, f"{f.path} is missing"
    assert (f.user, f.group) == (user, group)


def assert_mode_at_most(f, mode: int):
    assert f.exists, f"{f.path} is missing"
    assert f.mode & ~mode == 0, f"{f.path} is {oct(f.mode)}, wider than {oct(mode)}"


def test_cis_3_1_docker_service_owner(host):
    assert_owner(unit_file(host, "docker.service"))


def test_cis_3_2_docker_service_mode(host):
    assert_mode_at_most(unit_file(host, "docker.service"), 0o644)


def test_cis_3_3_docker_socket_unit_owner(host):
    assert_owner(unit_file(host, "docker.socket"))


def test_cis_3_4_docker_socket_unit_mode(host):
    assert_mode_at_most(unit_file(host, "docker.socket"), 0o644)


def test_cis_3_5_etc_docker_owner(host):
    assert_owner(host.file("/etc/docker"))


def test_cis_3_6_etc_docker_mode(host):
    assert_mode_at_most(host.file("/etc/docker"), 0o755)


def registry_certs(host):
    out = host.run("find /etc/docker/certs.d -type f 2>/dev/null").stdout.split()
    return [host.file(p) for p in out]


def test_cis_3_7_registry_certs_owner(host):
    for cert in registry_certs(host):
        assert_owner(cert)


def test_cis_3_8_registry_certs_mode(host):
    for cert in registry_certs(host):
        assert_mode_at_most(cert, 0o444)


def test_cis_3_15_docker_sock_owner(host):
    assert_owner(host.file("/run/docker.sock"), "root", "docker")


def test_cis_3_16_docker_sock_mode(host):
    assert_mode_at_most(host.file("/run/docker.sock"), 0o660)


def test_docker_socket_dropin_makes_mode_last(host):
    # The socket unit itself says 0660 root:docker, so a restart cannot undo it.
    props = run_ok(
        host, "systemctl", "show", "docker.socket", "--property=SocketMode,SocketGroup,SocketUser"
    )
    assert set(props.split()) == {"SocketMode=0660", "SocketGroup=docker", "SocketUser=root"}


def test_cis_3_17_daemon_json_owner(host):
    assert_owner(host.file("/etc/docker/daemon.json"))


def test_cis_3_18_daemon_json_mode(host):
    assert_mode_at_most(host.file("/etc/docker/daemon.json"), 0o644)


def test_cis_3_19_etc_default_docker_owner(host):
    assert_owner(host.file("/etc/default/docker"))


def test_cis_3_20_etc_default_docker_mode(host):
    assert_mode_at_most(host.file("/etc/default/docker"), 0o644)


@pytest.fixture
def sysconfig_docker(host):
    f = host.file("/etc/sysconfig/docker")
    if not f.exists:
        pytest.skip("/etc/sysconfig/docker is a Red Hat file; Debian has none")
    return f


def test_cis_3_21_sysconfig_docker_mode(sysconfig_docker):
    assert_mode_at_most(sysconfig_docker, 0o644)


def test_cis_3_22_sysconfig_docker_owner(sysconfig_docker):
    assert_owner(sysconfig_docker)


def test_cis_3_23_containerd_sock_owner(host):
    assert_owner(host.file("/run/containerd/containerd.sock"))


def test_cis_3_24_containerd_sock_mode(host):
    assert_mode_at_most(host.file("/run/containerd/containerd.sock"), 0o660)
