"""`site.yml --check --diff` on hosts that were never converged.

Previewing is the first thing a careful operator does. On a new Debian 13 app
host and a new Debian 12 host the preview runs to the end, lists the packages
and files a real run would install and change, and changes nothing.

The hosts are made for this test only (playbooks/local_host.yml, as Molecule
makes its platforms) and removed afterwards; it runs once, in molecule/faults.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from ansible_recap import parse_recap

pytestmark = pytest.mark.skipif(
    os.environ.get("MOLECULE_SCENARIO_NAME") != "faults",
    reason="makes host containers of its own: runs once, in molecule/faults",
)

FRESH = {
    "dockhard-fresh-trixie": "dockhard/host:trixie",
    "dockhard-fresh-bookworm": "dockhard/host:bookworm",
}
APP_HOST = "dockhard-fresh-trixie"
# What a real run would create: none of it may exist after the preview.
LEFT_BY_A_RUN = (
    "ls -d /usr/bin/docker /usr/sbin/dockerd /etc/docker /etc/audit/rules.d /opt/dockhard"
    " /etc/nginx /etc/profile.d/dockhard-content-trust.sh 2>/dev/null; getent group docker;"
    " dpkg-query -W -f '${Status}\\n' docker.io 2>/dev/null | grep installed"
)


def local_hosts(state: str) -> None:
    hosts = [{"name": name, "image": image} for name, image in FRESH.items()]
    extra = json.dumps({"dockhard_local_hosts": hosts, "dockhard_local_host_state": state})
    play = ["ansible-playbook", str(ROOT / "playbooks" / "local_host.yml"), "-e", extra]
    subprocess.run(play, cwd=ROOT, check=True, capture_output=True)


def inventory(path: Path) -> Path:
    connection = {
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    groups = {
        "docker_hosts": {"hosts": dict.fromkeys(FRESH, connection)},
        "app_hosts": {"hosts": {APP_HOST: None}},
    }
    path.write_text(json.dumps(groups))
    return path


def on_host(name: str, script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "exec", name, "sh", "-c", script], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def preview(tmp_path_factory):
    local_hosts("started")
    try:
        hosts_file = inventory(tmp_path_factory.mktemp("fresh") / "hosts.json")
        play = subprocess.run(
            [
                "ansible-playbook",
                "-i",
                str(hosts_file),
                str(ROOT / "playbooks" / "site.yml"),
                "--check",
                "--diff",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        untouched = {name: on_host(name, LEFT_BY_A_RUN).stdout.split() for name in FRESH}
        yield play, untouched
    finally:
        local_hosts("absent")


def test_check_fresh_hosts_run_to_the_end(preview):
    play, _ = preview
    assert play.returncode == 0, play.stdout[-4000:] + play.stderr[-2000:]
    recaps = parse_recap(play.stdout)
    assert sorted(recaps) == sorted(FRESH)
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in recaps.values()), recaps


def test_check_fresh_hosts_list_packages_and_files_they_would_change(preview):
    play, _ = preview
    assert all(r["changed"] > 0 for r in parse_recap(play.stdout).values())
    assert "The following NEW packages will be installed" in play.stdout
    assert "docker.io" in play.stdout
    for path in ("/etc/docker/daemon.json", "/etc/systemd/system/docker.socket.d/10-dockhard.conf"):
        assert f"+++ after: {path}" in play.stdout, path
    words = " ".join(play.stdout.split())  # the YAML callback folds long messages
    assert "A real run builds the web and database images on the host" in words


def test_check_fresh_hosts_are_left_untouched(preview):
    _, untouched = preview
    assert untouched == {name: [] for name in FRESH}
