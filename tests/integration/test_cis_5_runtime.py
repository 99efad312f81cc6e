"""CIS Docker Benchmark section 5 (container runtime), per running app container."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import ROOT, run_ok

# The role's list (catalog 5.6): these paths and anything inside them, "/" itself only.
SENSITIVE_HOST_PATHS = yaml.safe_load((ROOT / "roles/docker_app/vars/main.yml").read_text())[
    "docker_app_sensitive_paths"
]


def sensitive(source: str) -> bool:
    inside = [p for p in SENSITIVE_HOST_PATHS if p != "/" and source.startswith(p + "/")]
    return source in SENSITIVE_HOST_PATHS or bool(inside)


# Skip where the app is not deployed; fail where it is deployed and wrong.
pytestmark = pytest.mark.usefixtures("app_deployed")


def _proc_status(host, container: dict) -> dict[str, str]:
    """/proc/1/status of the container's main process, as a dict."""
    text = run_ok(host, "docker", "exec", container["Id"], "cat", "/proc/1/status")
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def test_cis_5_2_apparmor_profile(host, containers, docker_info):
    if not any("apparmor" in opt for opt in docker_info["SecurityOptions"]):
        pytest.skip("the host kernel runs no AppArmor (the test machines have none)")
    for service, c in containers.items():
        assert c["AppArmorProfile"] not in ("", "unconfined"), service


def test_cis_5_4_capabilities_dropped(host, containers):
    for service, c in containers.items():
        assert "ALL" in (c["HostConfig"]["CapDrop"] or []), service
        assert not c["HostConfig"]["CapAdd"], f"{service} adds {c['HostConfig']['CapAdd']}"
        status = _proc_status(host, c)
        assert int(status["CapEff"].strip(), 16) == 0, f"{service}: CapEff {status['CapEff']}"
        assert int(status["CapBnd"].strip(), 16) == 0, f"{service}: CapBnd {status['CapBnd']}"


def test_cis_5_5_not_privileged(containers):
    for service, c in containers.items():
        assert c["HostConfig"]["Privileged"] is False, service


def test_cis_5_6_no_sensitive_host_mounts(containers):
    for service, c in containers.items():
        sources = {m["Source"].rstrip("/") or "/" for m in c["Mounts"] if m["Type"] == "bind"}
        found = sorted(s for s in sources if sensitive(s))
        assert not found, f"{service} mounts {found}"


def test_cis_5_7_no_sshd(host, containers):
    for service, c in containers.items():
        processes = run_ok(host, "docker", "top", c["Id"], "-eo", "pid,comm").splitlines()[1:]
        assert processes, service
        assert not [p for p in processes if "sshd" in p], f"{service}: {processes}"


def test_cis_5_8_no_privileged_host_ports(containers):
    for service, c in containers.items():
        for bindings in (c["HostConfig"]["PortBindings"] or {}).values():
            for binding in bindings or []:
                assert int(binding["HostPort"] or 0) >= 1024, f"{service}: {binding}"


def test_cis_5_9_no_published_ports(host, containers):
    for service, c in containers.items():
        assert not c["HostConfig"]["PortBindings"], f"{service}: {c['HostConfig']['PortBindings']}"
        assert not [v for v in (c["NetworkSettings"]["Ports"] or {}).values() if v], service
        assert c["HostConfig"]["PublishAllPorts"] is False, service
        assert run_ok(host, "docker", "port", c["Id"]).strip() == "", service


def test_cis_5_10_no_host_network(containers):
    for service, c in containers.items():
        assert c["HostConfig"]["NetworkMode"] != "host", service


def test_cis_5_11_memory_limited(containers):
    for service, c in containers.items():
        assert c["HostConfig"]["Memory"] > 0, service
        # No swap on top of the limit.
        assert c["HostConfig"]["MemorySwap"] == c["HostConfig"]["Memory"], service


def test_cis_5_12_cpu_shares_set(containers):
    for service, c in containers.items():
        # docker-bench-security reads CpuShares; 0 and 1024 both mean "not set".
        assert c["HostConfig"]["CpuShares"] not in (0, 1024), service
        assert c["HostConfig"]["NanoCpus"] > 0, service


def test_cis_5_13_read_only_rootfs(host, containers):
    for service, c in containers.items():
        assert c["HostConfig"]["ReadonlyRootfs"] is True, service
        write = host.run(f"docker exec {c['Id']} sh -c 'echo x > /dockhard-write-test'")
        assert write.rc != 0, f"{service}: the root filesystem is writable"


def test_cis_5_14_no_wildcard_port_binding(containers):
    for service, c in containers.items():
        for bindings in (c["HostConfig"]["PortBindings"] or {}).values():
            for binding in bindings or []:
                assert binding["HostIp"] not in ("", "0.0.0.0", "::"), f"{service}: {binding}"  # noqa: S104


def test_cis_5_15_restart_on_failure_5(containers):
    for service, c in containers.items():
        policy = c["HostConfig"]["RestartPolicy"]
        assert policy == {"Name": "on-failure", "MaximumRetryCount": 5}, f"{service}: {policy}"


def test_cis_5_16_no_host_pid(containers):
    for service, c in containers.items():
        assert c["HostConfig"]["PidMode"] != "host", service


def test_cis_5_17_no_host_ipc(containers):
    for service, c in containers.items():
        assert c["HostConfig"]["IpcMode"] != "host", service


def test_cis_5_18_no_host_devices(containers):
    for service, c in containers.items():
        assert not c["HostConfig"]["Devices"], f"{service}: {c['HostConfig']['Devices']}"


def test_cis_5_19_ulimits_set(containers):
    for service, c in containers.items():
        names = {u["Name"] for u in c["HostConfig"]["Ulimits"] or []}
        assert {"nofile", "nproc"} <= names, f"{service}: {names}"


def test_cis_5_20_no_shared_mount_propagation(containers):
    for service, c in containers.items():
        for mount in c["Mounts"]:
            assert mount.get("Propagation", "") not in ("shared", "rshared"), f"{service}: {mount}"


def test_cis_5_21_no_host_uts(containers):
    for service, c in containers.items():
        assert c["HostConfig"]["UTSMode"] != "host", service


def test_cis_5_22_seccomp_not_unconfined(host, containers):
    for service, c in containers.items():
        options = c["HostConfig"]["SecurityOpt"] or []
        assert not [o for o in options if o.replace("=", ":") == "seccomp:unconfined"], service
        # The default profile is really applied to the process.
        assert _proc_status(host, c)["Seccomp"].strip() == "2", service


def test_cis_5_25_default_cgroup_parent(containers):
    for service, c in containers.items():
        assert c["HostConfig"]["CgroupParent"] == "", service


def test_cis_5_26_no_new_privileges(host, containers):
    for service, c in containers.items():
        assert "no-new-privileges:true" in (c["HostConfig"]["SecurityOpt"] or []), service
        assert _proc_status(host, c)["NoNewPrivs"].strip() == "1", service


def test_cis_5_27_containers_healthy(containers):
    for service, c in containers.items():
        assert c["Config"]["Healthcheck"]["Test"][0] in ("CMD", "CMD-SHELL"), service
        assert c["State"]["Health"]["Status"] == "healthy", f"{service}: {c['State']['Health']}"


def test_cis_5_29_pids_limit(containers):
    for service, c in containers.items():
        assert (c["HostConfig"]["PidsLimit"] or 0) > 0, service


def test_cis_5_30_not_on_default_bridge(host, containers):
    for service, c in containers.items():
        networks = set(c["NetworkSettings"]["Networks"])
        assert networks, service
        assert "bridge" not in networks, f"{service}: {networks}"
        assert c["HostConfig"]["NetworkMode"] not in ("default", "bridge"), service
    # The database is reachable only on an internal network.
    for name in containers["db"]["NetworkSettings"]["Networks"]:
        network = json.loads(run_ok(host, "docker", "network", "inspect", name))[0]
        assert network["Internal"] is True, name
        assert network["Driver"] == "bridge", name


def test_cis_5_31_no_host_userns(containers):
    for service, c in containers.items():
        assert c["HostConfig"]["UsernsMode"] != "host", service


def test_cis_5_32_no_docker_sock_mount(containers):
    for service, c in containers.items():
        for mount in c["Mounts"]:
            assert not mount["Source"].endswith("docker.sock"), f"{service}: {mount}"
            assert not mount["Destination"].endswith("docker.sock"), f"{service}: {mount}"
