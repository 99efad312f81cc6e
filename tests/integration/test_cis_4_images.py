"""CIS Docker Benchmark section 4 (images) on a host with the app deployed."""

from __future__ import annotations

import json

import pytest
from app_stack import SECRETS_DIR, all_images, secret_values
from conftest import run_ok

# Skip where the app is not deployed; fail where it is deployed and wrong.
pytestmark = pytest.mark.usefixtures("app_deployed")


@pytest.fixture(scope="module")
def app_images(host, containers) -> dict[str, dict]:
    """`docker image inspect` of the image each app container runs, by service."""
    return {
        service: json.loads(run_ok(host, "docker", "image", "inspect", c["Image"]))[0]
        for service, c in containers.items()
    }


def _non_root(user: str) -> bool:
    name = user.split(":", 1)[0]
    return name not in ("", "0", "root")


def test_cis_4_1_containers_run_as_non_root(host, containers, app_images):
    for service, container in containers.items():
        user = container["Config"]["User"]
        assert _non_root(user), f"{service} runs as {user!r}"
        image_user = app_images[service]["Config"]["User"]
        assert _non_root(image_user), f"the image of {service} has no non-root USER"
        # The process itself, as the container's user namespace sees it.
        uid = run_ok(host, "docker", "exec", container["Id"], "id", "-u").strip()
        assert uid != "0", f"{service}: process uid {uid}"


def test_cis_4_6_images_have_healthcheck(host, app_images):
    images = all_images(host)
    assert images
    missing = [
        image["RepoTags"] or image["Id"]
        for image in images
        if not ((image.get("Config") or {}).get("Healthcheck") or {}).get("Test")
        or image["Config"]["Healthcheck"]["Test"][0] == "NONE"
    ]
    assert missing == [], f"images without a HEALTHCHECK: {missing}"
    for service, image in app_images.items():
        assert image["Config"]["Healthcheck"]["Test"][0] in ("CMD", "CMD-SHELL"), service


def test_cis_4_8_no_setuid_files(host, app_images):
    for service, image in app_images.items():
        # A throwaway container of the image, root inside its (remapped) user
        # namespace so that find can read every directory; no network.
        found = host.run(
            f"docker run --rm --network none --user 0 --entrypoint find {image['Id']} "
            "/ -xdev -type f -perm /6000"
        )
        assert found.stdout.strip() == "", f"{service}: setuid/setgid files: {found.stdout}"


def test_cis_4_9_no_add_in_images(host, app_images):
    for service, image in app_images.items():
        history = run_ok(
            host,
            "docker",
            "image",
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}",
            image["Id"],
        ).splitlines()
        assert history, service
        added = [line for line in history if line.startswith("ADD ") or "#(nop) ADD " in line]
        assert added == [], f"{service}: {added}"


def test_cis_4_10_no_secrets_in_images(host, app_images):
    secrets = secret_values(host)
    for service, image in app_images.items():
        history = run_ok(host, "docker", "image", "history", "--no-trunc", image["Id"])
        config = json.dumps(image)
        for secret in secrets:
            assert secret not in history, f"a secret is in the history of the {service} image"
            assert secret not in config, f"a secret is in the configuration of the {service} image"
    # The secret files themselves: readable only by their container users.
    for name in ("db_superuser_password", "db_app_password"):
        mode = host.file(f"{SECRETS_DIR}/{name}").mode
        assert mode & 0o077 in (0, 0o040), f"{name} has mode {oct(mode)}"
