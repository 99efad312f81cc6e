"""Shared fixtures for the testinfra suites run by Molecule against converged hosts."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from ansible_recap import parse_recap  # noqa: E402 - from the path added above

REPORT_DIR = ROOT / "reports" / "compliance"
# The playbooks the tests run print plain text for them to parse, whoever
# started pytest: a plain `molecule test` forces Ansible's colours on.
os.environ.update(ANSIBLE_FORCE_COLOR="0", PY_COLORS="0")


def role_default(role: str, name: str):
    """A role default as its defaults/main.yml defines it: tests assert role data, not copies."""
    return yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text())[name]


# What docker_daemon writes per control (role data the tests assert, not literals).
DAEMON_BASELINE = json.loads((ROOT / "roles/docker_daemon/files/daemon_baseline.json").read_text())

# Where the docker_auditd role writes its rules (CIS 1.1.3-1.1.18).
AUDIT_RULES_FILE = "/etc/audit/rules.d/50-dockhard-docker.rules"


def run_ok(host, *argv: str) -> str:
    """Run argv on the host (as root), fail the test with its stderr if it fails."""
    cmd = host.run(" ".join(shlex.quote(a) for a in argv))
    assert cmd.rc == 0, f"{argv!r} failed ({cmd.rc}): {cmd.stderr.strip()}"
    return cmd.stdout


def run_in_container(host, image: str, *argv: str) -> str:
    """Run argv in a throwaway container of the host's engine, with no network."""
    return run_ok(host, "docker", "run", "--rm", "--network", "none", image, *argv)


def restart_docker(host) -> None:
    """Restart the engine as an admin would, clear of docker.service's start rate limit."""
    run_ok(host, "systemctl", "reset-failed", "docker.service")
    run_ok(host, "systemctl", "restart", "docker.service")


def host_name(host) -> str:
    """The inventory name of the host, which is also its container name."""
    return host.ansible.get_variables()["inventory_hostname"]


def host_var(host, name: str, default):
    return host.ansible.get_variables().get(name, default)


def run_playbook(
    host, playbook: str, extra_vars: dict | None = None, *options: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run one of the project's playbooks against this host only, as a user would."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory:
        pytest.skip("needs the Molecule inventory (run through molecule verify)")
    argv = ["ansible-playbook", "-i", inventory, str(ROOT / "playbooks" / playbook)]
    argv += ["--limit", host_name(host), "-e", json.dumps(extra_vars or {}), *options]
    environ = {**os.environ, **(env or {})}
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=environ, check=False)


def recap(play: subprocess.CompletedProcess) -> dict[str, int]:
    """The PLAY RECAP counters of the one host a playbook ran on."""
    hosts = parse_recap(play.stdout)
    output = f"{play.stdout[-2000:]}\n{play.stderr[-2000:]}"
    assert len(hosts) == 1, f"no PLAY RECAP of one host:\n{output}"
    return next(iter(hosts.values()))


def audit_report(host) -> dict:
    """Audit the host read-only with playbooks/audit.yml and return its fresh JSON report."""
    play = run_playbook(host, "audit.yml")
    assert play.returncode == 0, play.stdout[-3000:] + play.stderr[-2000:]
    assert recap(play)["changed"] == 0, play.stdout[-3000:]
    return json.loads((REPORT_DIR / f"{host_name(host)}.json").read_text())


@pytest.fixture(scope="module")
def docker_info(host) -> dict:
    """`docker info` of the host's engine, as the engine reports it."""
    return json.loads(run_ok(host, "docker", "info", "--format", "{{json .}}"))


@pytest.fixture(scope="module")
def daemon_json(host) -> dict:
    return json.loads(host.file("/etc/docker/daemon.json").content_string)


@pytest.fixture(scope="module")
def kernel_audit_rules(host):
    """The host's docker audit rules as a real kernel loaded them.

    The kernel refuses audit requests from a container's own PID namespace, so
    the rule file is loaded by auditctl running in the host container's mount
    namespace (its paths, its auditctl) but the controller's initial PID
    namespace, then read back with `auditctl -l` and removed again.
    """
    pid = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Pid}}", host_name(host)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    enter = ["nsenter", "--target", pid, "--mount", "--"]
    key = host_var(host, "docker_auditd_key", "docker")
    subprocess.run([*enter, "auditctl", "-D", "-k", key], capture_output=True, check=False)
    load = subprocess.run(
        [*enter, "auditctl", "-R", AUDIT_RULES_FILE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert load.returncode == 0, f"the kernel refused the rules: {load.stderr}"
    listed = subprocess.run(
        [*enter, "auditctl", "-l"], capture_output=True, text=True, check=True
    ).stdout
    yield listed.splitlines()
    subprocess.run([*enter, "auditctl", "-D", "-k", key], capture_output=True, check=False)


@pytest.fixture(scope="module")
def scratch_image(host):
    """A throwaway image built on the host from Debian's busybox-static package.

    No registry is reachable, so the image is made from a Debian package that is
    downloaded (not installed) and imported; it is removed afterwards so that no
    image without a HEALTHCHECK stays on the host (CIS 4.6).
    """
    tag = "dockhard-test/busybox:latest"
    script = f"""
set -e
work=$(mktemp -d)
cd "$work"
apt-get download busybox-static >/dev/null 2>&1 ||
  (apt-get update -qq && apt-get download busybox-static >/dev/null)
dpkg-deb -x busybox-static_*.deb root
mkdir -p root/bin root/tmp
# Debian 12 ships /bin/busybox, Debian 13 /usr/bin/busybox.
[ -e root/bin/busybox ] || ln -s /usr/bin/busybox root/bin/busybox
for tool in sh sleep wget nc cat id echo; do ln -sf /bin/busybox root/bin/$tool; done
tar -C root -c . | docker import - {tag} >/dev/null
rm -rf "$work"
"""
    run_ok(host, "sh", "-c", script)
    yield tag
    host.run(f"docker rmi -f {tag}")


@pytest.fixture(scope="module")
def app_deployed(host) -> None:
    """Skip where the app is not deployed (see app_stack.py)."""
    from app_stack import require_app  # app_stack imports this module

    require_app(host)


@pytest.fixture(scope="module")
def containers(host, app_deployed) -> dict[str, dict]:
    """`docker inspect` of each app container, by compose service name."""
    from app_stack import app_containers

    return app_containers(host)
