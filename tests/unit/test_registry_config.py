"""The registry login of docker_app: ECR through the credential helper, else docker login."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TASKS = ROOT / "roles" / "docker_app" / "tasks"


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


registry = load("dockhard_registry_filters", ROOT / "plugins/filter/registry.py")

ECR = [
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn",
]
NOT_ECR = [
    "",
    "dockhard-registry-hub:5000",
    "registry.example.com",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com:443",
    "12345.dkr.ecr.eu-west-1.amazonaws.com",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example",
    "public.ecr.aws",
]


@pytest.mark.parametrize("name", ECR)
def test_ecr_registry_gets_the_credential_helper(name):
    assert registry.registry_is_ecr(name)
    assert registry.registry_docker_config(name) == {"credHelpers": {name: "ecr-login"}}


@pytest.mark.parametrize("name", NOT_ECR)
def test_other_registries_log_in_with_docker_login(name):
    assert not registry.registry_is_ecr(name)
    assert registry.registry_docker_config(name) is None


def test_ecr_config_is_json_with_no_credentials():
    config = json.dumps(registry.registry_docker_config(ECR[0]))
    assert "auth" not in config.replace("credHelpers", "")


def tasks(name: str) -> dict[str, dict]:
    return {task["name"]: task for task in yaml.safe_load((TASKS / name).read_text())}


def test_role_writes_the_helper_config_to_roots_docker_config():
    task = tasks("registry_access.yml")[
        "PATCH | The docker CLI asks the ECR credential helper for the registry's logins"
    ]
    copy = task["ansible.builtin.copy"]
    assert copy["dest"] == "/root/.docker/config.json"
    assert "dockhard.docker_hardening.registry_docker_config" in copy["content"]
    assert copy["mode"] == "0600"
    assert "registry_is_ecr" in task["when"]


def test_registry_password_only_reaches_a_task_under_no_log():
    login = tasks("registry_login.yml")["PATCH | The engine is logged in to the registry"]
    assert login["no_log"] is True
    assert login["ansible.builtin.command"]["stdin"] == "{{ docker_app_registry_password }}"
    uses = [p.name for p in TASKS.glob("*.yml") if "docker_app_registry_password" in p.read_text()]
    assert uses == ["registry_login.yml"]


def test_ca_is_installed_root_owned_and_read_only():
    ca = tasks("registry_access.yml")[
        "3.8 | PATCH | The engine trusts the registry's CA (root:root 0444)"
    ]
    copy = ca["ansible.builtin.copy"]
    assert (copy["owner"], copy["group"], copy["mode"]) == ("root", "root", "0444")
    assert copy["dest"] == "{{ docker_app_registry_certs_dir }}/ca.crt"
