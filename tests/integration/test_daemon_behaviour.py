"""How the daemon role behaves: a restart spares running containers, bad input changes nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import recap, restart_docker, run_ok, run_playbook

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def running_container(host, scratch_image):
    name = "dockhard-test-sleeper"
    host.run(f"docker rm -f {name}")
    run_ok(
        host,
        "docker",
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "none",
        scratch_image,
        "sleep",
        "600",
    )
    yield name
    host.run(f"docker rm -f {name}")


def state(host, name: str) -> tuple[bool, int, str]:
    out = run_ok(
        host,
        "docker",
        "inspect",
        "--format",
        "{{.State.Running}} {{.State.Pid}} {{.State.StartedAt}}",
        name,
    )
    running, pid, started = out.split()
    return running == "true", int(pid), started


def dockerd_pid(host) -> str:
    return run_ok(host, "systemctl", "show", "--property=MainPID", "--value", "docker").strip()


def test_cis_2_15_restart_keeps_containers_running(host, running_container):
    before = state(host, running_container)
    old_daemon = dockerd_pid(host)
    restart_docker(host)
    assert dockerd_pid(host) != old_daemon
    assert state(host, running_container) == before


def converge_with(host, extra_vars: dict, *options: str) -> subprocess.CompletedProcess:
    """Run the real site playbook against this host with extra variables."""
    return run_playbook(host, "site.yml", extra_vars, *options)


def test_invalid_daemon_option_changes_nothing(host, running_container):
    """An invalid daemon.json value fails the play before the live file or daemon is touched."""
    config_before = host.file("/etc/docker/daemon.json").content_string
    daemon_before = dockerd_pid(host)
    container_before = state(host, running_container)
    play = converge_with(host, {"docker_daemon_options": {"log-level": "chatty"}})
    assert play.returncode != 0, "the play accepted an invalid log-level"
    assert "daemon.json" in play.stdout
    assert host.file("/etc/docker/daemon.json").content_string == config_before
    assert dockerd_pid(host) == daemon_before
    assert state(host, running_container) == container_before


def test_wrong_variable_type_fails_before_any_change(host):
    play = converge_with(host, {"docker_daemon_section2": "perhaps"})
    assert play.returncode != 0
    assert "docker_daemon_section2" in play.stdout + play.stderr
    # The preflight play failed, so the converge play never started.
    assert "PLAY [Converge Docker hosts]" not in play.stdout


def test_check_diff_on_converged_host_changes_nothing(host):
    """`site.yml --check --diff` on a converged host reports no change (honest check mode)."""
    config_before = host.file("/etc/docker/daemon.json").content_string
    play = converge_with(host, {}, "--check", "--diff")
    assert play.returncode == 0, play.stdout[-3000:]
    assert recap(play)["changed"] == 0, play.stdout[-3000:]
    assert host.file("/etc/docker/daemon.json").content_string == config_before
