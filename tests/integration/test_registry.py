"""Build once, distribute by digest (molecule/registry, docs/registry.md).

The build host built the app images and pushed them to a TLS registry with
htpasswd auth; the app hosts, which reach nothing but loopback and the test
network, pulled them by the digests the build play recorded and run them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import testinfra
from app_stack import app_containers, fetch
from conftest import REPORT_DIR, host_name, host_var, run_ok, run_playbook

pytestmark = pytest.mark.skipif(
    os.environ.get("MOLECULE_SCENARIO_NAME") != "registry",
    reason="needs a build host, a registry and app hosts in registry mode (molecule/registry)",
)

CERTS_DIR = "/etc/docker/certs.d"
# Where the test registry (molecule/shared/prepare_registry.yml) keeps its blobs.
REGISTRY_BLOBS = "/var/lib/docker-registry/docker/registry/v2/blobs/sha256"
# Outside addresses the app hosts must not reach: the Debian mirror and PyPI.
OUTSIDE = (("deb.debian.org", 80), ("pypi.org", 443), ("files.pythonhosted.org", 443))
_CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()
    print("connected")
except OSError as error:
    print(f"refused: {error}")
"""


@pytest.fixture
def app_host(host):
    if "app_hosts" not in host_var(host, "group_names", []):
        pytest.skip("an app host test")
    return host


@pytest.fixture
def build_host(host):
    if "build_hosts" not in host_var(host, "group_names", []):
        pytest.skip("a build host test")
    return host


def recorded(host) -> dict[str, str]:
    """The images the build play recorded on the controller, by service."""
    # Templated by Ansible: the inventory names the file through other variables.
    path = host.ansible("debug", "var=docker_app_images_file")["docker_app_images_file"]
    return json.loads(Path(path).read_text())


def registry_ca(host) -> str:
    return f"{CERTS_DIR}/{host_var(host, 'docker_app_registry', '')}/ca.crt"


def test_registry_build_play_recorded_the_digests_it_pushed(build_host):
    images = recorded(build_host)
    registry = host_var(build_host, "docker_app_registry", "")
    assert sorted(images) == ["db", "web"]
    for ref in images.values():
        assert ref.startswith(f"{registry}/") and "@sha256:" in ref, ref
        inspect = run_ok(build_host, "docker", "image", "inspect", ref)
        digests = json.loads(inspect)[0]["RepoDigests"]
        assert ref in digests


@pytest.mark.parametrize(("address", "port"), OUTSIDE)
def test_registry_app_hosts_cannot_reach_the_debian_mirror_or_pypi(app_host, address, port):
    answer = run_ok(app_host, "python3", "-c", _CONNECT, address, str(port)).strip()
    assert answer.startswith("refused"), f"{host_name(app_host)} reached {address}:{port}"


def test_registry_app_hosts_built_nothing(app_host):
    assert not app_host.package("debootstrap").is_installed
    assert not app_host.file("/var/cache/dockhard/base").exists
    assert not app_host.file("/opt/dockhard/app/wheelhouse").exists
    assert app_host.file("/opt/dockhard/app/compose.yaml").is_file


def test_registry_running_containers_have_the_recorded_digests(app_host):
    images = recorded(app_host)
    for service, container in app_containers(app_host).items():
        assert container["Config"]["Image"] == images[service]
        image = json.loads(run_ok(app_host, "docker", "image", "inspect", container["Image"]))[0]
        assert images[service] in image["RepoDigests"], image["RepoDigests"]


def test_registry_app_served_through_nginx(app_host):
    status, body, _ = fetch(app_host, "/healthz")
    assert status == 200, body


def test_cis_3_7_registry_ca_owned_by_root(app_host):
    ca = app_host.file(registry_ca(app_host))
    assert ca.is_file and (ca.user, ca.group) == ("root", "root")
    assert ca.content_string.startswith("-----BEGIN CERTIFICATE-----")


def test_cis_3_8_registry_ca_mode_0444(app_host):
    assert app_host.file(registry_ca(app_host)).mode == 0o444


def test_cis_3_7_3_8_pass_with_the_registry_ca_as_evidence(app_host):
    report_file = REPORT_DIR / f"{host_name(app_host)}.json"
    report = json.loads(report_file.read_text())
    controls = {c["id"]: c for c in report["controls"]}
    for control in ("3.7", "3.8"):
        assert controls[control]["status"] == "PASS", controls[control]
        assert registry_ca(app_host) in str(controls[control]["evidence"]), controls[control]


def build_host_of(host):
    """The build host of the scenario (it runs the test registry), from an app host's test."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory:
        pytest.skip("needs the Molecule inventory (run through molecule verify)")
    names = host.ansible.get_variables()["groups"]["build_hosts"]
    return testinfra.get_host(f"ansible://{names[0]}", ansible_inventory=inventory)


def tampered_digest(hub, recorded_web: str) -> str:
    """Push an image derived from the recorded web image (a new manifest, its layers shared),
    then change the bytes the registry stores for that manifest: the registry still serves
    them under the pushed digest, as a compromised or corrupted registry would."""
    repository = recorded_web.split("@")[0]
    tag = f"{repository}:tamper-test"
    dockerfile = f"FROM {recorded_web}\nLABEL org.dockhard.test=tampered\n"
    run_ok(hub, "sh", "-c", f"printf '{dockerfile}' | docker build --quiet --tag {tag} -")
    run_ok(hub, "docker", "push", "--quiet", tag)
    inspect = run_ok(hub, "docker", "image", "inspect", "--format", "{{json .RepoDigests}}", tag)
    digests = json.loads(inspect)
    digest = next(d for d in digests if d.startswith(f"{repository}@")).split("@")[1]
    blob = f"{REGISTRY_BLOBS}/{digest[7:9]}/{digest[7:]}/data"
    manifest = hub.file(blob).content_string
    assert json.loads(manifest)["config"], manifest
    # The same manifest with one more byte of whitespace: valid, but not the pushed digest.
    run_ok(hub, "sh", "-c", f"printf '\\n' >> {blob}")
    return digest


def test_registry_pulled_image_of_another_digest_fails_before_anything_runs(app_host, tmp_path):
    if host_name(app_host) != "dockhard-registry-app1":
        pytest.skip("run on one app host")
    before = {s: c["Id"] for s, c in app_containers(app_host).items()}
    images = recorded(app_host)
    digest = tampered_digest(build_host_of(app_host), images["web"])
    wrong = f"{images['web'].split('@')[0]}@{digest}"
    tampered = tmp_path / "app-images.json"
    tampered.write_text(json.dumps({**images, "web": wrong}))
    play = run_playbook(app_host, "app.yml", {"docker_app_images_file": str(tampered)})
    output = play.stdout + play.stderr  # the failed task's message is on stderr
    assert play.returncode != 0, output[-2000:]
    # The engine checked what the registry served against the digest, and refused it.
    assert f"manifest verification failed for digest {digest}" in output, output[-3000:]
    assert "PATCH | The app stack runs and is healthy" not in output
    assert app_host.run("docker image inspect %s", wrong).rc != 0
    assert {s: c["Id"] for s, c in app_containers(app_host).items()} == before
