"""The Docker engine the play installs on the host, and that it really runs containers."""

import pytest
from conftest import run_in_container


def test_engine_service_active_and_enabled(host):
    docker = host.service("docker")
    assert docker.is_running
    assert docker.is_enabled


def test_engine_answers_api(docker_info):
    assert docker_info["ServerVersion"]
    assert docker_info["Driver"] == "overlay2"


def test_nested_engine_runs_a_container(host, scratch_image):
    out = run_in_container(host, scratch_image, "busybox", "echo", "nested-ok")
    assert out.strip() == "nested-ok"


def test_compose_v2_available_on_debian_13(host):
    if host.system_info.release.split(".")[0] != "13":
        pytest.skip("Compose v2 and buildx are Debian packages only from Debian 13 on")
    assert host.run("docker compose version").rc == 0
    assert host.run("docker buildx version").rc == 0
