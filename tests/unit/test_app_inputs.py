"""docker_app's inputs: wheel platform from the host's facts, the proxy's addresses and TLS."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "docker_app"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
ROLE_VARS = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
BIN = Path(sys.executable).parent

# The checks as the role runs them: its own task file, with the facts of a host
# of the given architecture.
PLAY = """
- name: Architecture check of docker_app
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_facts: {{architecture: {arch}}}
  tasks:
    - name: The role's architecture check
      ansible.builtin.include_role:
        name: docker_app
        tasks_from: inputs.yml
"""


def wheel_platform(facts: dict) -> str:
    """docker_app_wheel_platform as Ansible renders the role's default for these facts."""
    templar = Templar(loader=DataLoader(), variables={**ROLE_VARS, "ansible_facts": facts})
    return templar.template(trust_as_template(DEFAULTS["docker_app_wheel_platform"]))


@pytest.mark.parametrize(
    ("arch", "expected"),
    [("x86_64", "manylinux2014_x86_64"), ("aarch64", "manylinux2014_aarch64")],
)
def test_wheel_platform_follows_the_architecture(arch, expected):
    assert wheel_platform({"architecture": arch}) == expected


@pytest.mark.parametrize("facts", [{"architecture": "armv7l"}, {"architecture": "s390x"}, {}])
def test_other_architectures_have_no_wheel_platform(facts):
    assert wheel_platform(facts) == ""


def run_check(tmp_path: Path, arch: str, **extra: str) -> subprocess.CompletedProcess:
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY.format(arch=arch))
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", str(playbook), "-e", json.dumps(extra)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_the_role_accepts_x86_64_and_aarch64(tmp_path, arch):
    play = run_check(tmp_path, arch)
    assert play.returncode == 0, play.stdout[-2000:] + play.stderr[-2000:]


def test_the_role_refuses_another_architecture_by_name(tmp_path):
    play = run_check(tmp_path, "ppc64le")
    assert play.returncode != 0
    assert "docker_app supports x86_64 and aarch64 hosts" in play.stdout
    assert "this host is ppc64le" in play.stdout


@pytest.mark.parametrize(
    "listen", ["127.0.0.1:15000", "10.0.1.5:443", "172.31.20.7:8443", "[fd00:ec2::5]:443"]
)
def test_the_proxy_may_listen_on_one_address(tmp_path, listen):
    play = run_check(tmp_path, "x86_64", docker_app_proxy_listen=listen)
    assert play.returncode == 0, play.stdout[-2000:] + play.stderr[-2000:]


@pytest.mark.parametrize(
    "overrides",
    [
        {"docker_app_proxy_listen": "0.0.0.0:443"},
        {"docker_app_proxy_listen": "[::]:443"},
        {"docker_app_proxy_listen": "443"},
        {"docker_app_proxy_listen": "10.0.1.5"},
        {"docker_app_proxy_listen": "app.example.com:443"},
        {"docker_app_proxy_local_listen": "10.0.1.5:15000"},
    ],
    ids=[
        "ipv4-wildcard",
        "ipv6-wildcard",
        "port-only",
        "no-port",
        "host-name",
        "local-not-loopback",
    ],
)
def test_the_proxy_refuses_wildcards_and_non_addresses(tmp_path, overrides):
    play = run_check(tmp_path, "x86_64", **overrides)
    assert play.returncode != 0
    assert "must be one IP address and port" in play.stdout


def test_tls_needs_both_certificate_and_key(tmp_path):
    play = run_check(tmp_path, "x86_64", docker_app_proxy_tls_certificate="/etc/ssl/app.pem")
    assert play.returncode != 0
    assert "Set both docker_app_proxy_tls_certificate and docker_app_proxy_tls_key" in play.stdout
