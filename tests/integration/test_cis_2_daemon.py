"""CIS Docker Benchmark v1.6.0 section 2: daemon configuration, as the running engine applies it."""

from __future__ import annotations

import json

from conftest import DAEMON_BASELINE, run_in_container, run_ok


def bridge_options(host) -> dict:
    return json.loads(run_ok(host, "docker", "network", "inspect", "bridge"))[0]["Options"]


def test_cis_2_2_icc_disabled(host, daemon_json):
    assert daemon_json["icc"] is False
    assert bridge_options(host)["com.docker.network.bridge.enable_icc"] == "false"


def test_cis_2_3_log_level_info(host, daemon_json, docker_info):
    assert daemon_json.get("log-level", "info") == "info"
    assert docker_info["Debug"] is False


def test_cis_2_4_iptables_enabled(host, daemon_json):
    assert daemon_json.get("iptables", True) is True
    # The engine created its chains: it really manages iptables.
    assert "-N DOCKER" in run_ok(host, "iptables", "-w", "-S")


def test_cis_2_5_no_insecure_registries(daemon_json, docker_info):
    assert not daemon_json.get("insecure-registries")
    cidrs = docker_info["RegistryConfig"]["InsecureRegistryCIDRs"] or []
    assert set(cidrs) <= {"127.0.0.0/8", "::1/128"}
    assert all(ix["Secure"] for ix in docker_info["RegistryConfig"]["IndexConfigs"].values())


def test_cis_2_6_storage_driver_overlay2(daemon_json, docker_info):
    """One criterion (catalog 2.6): the engine runs the driver the role writes, never aufs."""
    wanted = DAEMON_BASELINE["2.6"]["storage-driver"]
    assert daemon_json["storage-driver"] == wanted
    assert docker_info["Driver"] == wanted != "aufs"


def test_cis_2_7_no_tcp_listener(host, daemon_json):
    # 2.7 (TLS on a TCP socket) is an exception because no TCP socket exists.
    assert not [h for h in daemon_json.get("hosts", []) if h.startswith("tcp://")]
    listening = run_ok(host, "ss", "-Hltnp")
    assert "dockerd" not in listening


def test_cis_2_8_default_ulimits(host, daemon_json, scratch_image):
    ulimits = daemon_json["default-ulimits"]
    assert {"nofile", "nproc"} <= set(ulimits)
    out = run_in_container(host, scratch_image, "sh", "-c", "ulimit -n; ulimit -u")
    assert out.split() == [str(ulimits["nofile"]["Soft"]), str(ulimits["nproc"]["Soft"])]


def test_cis_2_9_userns_remap(host, docker_info, scratch_image):
    assert "name=userns" in docker_info["SecurityOptions"]
    assert docker_info["DockerRootDir"].endswith("/100000.100000")
    # Root in a container is an unprivileged user on the host.
    uid_map = run_in_container(host, scratch_image, "cat", "/proc/self/uid_map")
    assert uid_map.split()[:2] == ["0", "100000"]


def test_cis_2_10_default_cgroup_parent(daemon_json, docker_info):
    assert "cgroup-parent" not in daemon_json
    assert docker_info.get("CgroupParent", "") in ("", None)


def test_cis_2_11_no_base_device_size(daemon_json):
    assert not [o for o in daemon_json.get("storage-opts", []) if "basesize" in o]


def test_cis_2_13_remote_log_driver(docker_info):
    assert docker_info["LoggingDriver"] not in ("json-file", "none")


def test_cis_2_14_no_new_privileges(host, daemon_json, scratch_image):
    # `docker info` lists it only from Engine 23 on; the container's own status is the proof.
    assert daemon_json["no-new-privileges"] is True
    status = run_in_container(host, scratch_image, "cat", "/proc/self/status")
    assert "NoNewPrivs:\t1" in status


def test_cis_2_15_live_restore(docker_info):
    assert docker_info["LiveRestoreEnabled"] is True
    assert docker_info["Swarm"]["LocalNodeState"] != "active"


def test_cis_2_16_userland_proxy_disabled(host, daemon_json):
    assert daemon_json["userland-proxy"] is False
    assert host.process.filter(comm="docker-proxy") == []


def test_cis_2_17_default_seccomp_profile(docker_info):
    seccomp = [o for o in docker_info["SecurityOptions"] if o.startswith("name=seccomp")]
    assert seccomp and "profile=unconfined" not in seccomp[0]


def test_cis_2_18_experimental_disabled(docker_info):
    assert docker_info["ExperimentalBuild"] is False


def test_cis_5_1_swarm_inactive(docker_info):
    assert docker_info["Swarm"]["LocalNodeState"] == "inactive"
