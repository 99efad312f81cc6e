"""Helpers of the tests of the deployed app stack (roles/docker_app, files/app).

The app tests skip only when the app is not deployed on the host (no
docker_app_dir, e.g. a scenario that converges site.yml alone); once it is
deployed, anything missing or wrong fails.
"""

from __future__ import annotations

import json

import jinja2
import pytest
from conftest import host_var, role_default, run_ok

APP_DIR = role_default("docker_app", "docker_app_dir")
SECRETS_DIR = role_default("docker_app", "docker_app_secrets_dir")
PROJECT = "dockhard"
SERVICES = ("db", "web")
# nginx's loopback listener (plain HTTP), which it serves whatever docker_app_proxy_listen is.
LOCAL_LISTEN = role_default("docker_app", "docker_app_proxy_local_listen")
PROXY = f"http://{LOCAL_LISTEN}"
_LOCAL_ADDRESS, _LOCAL_PORT = LOCAL_LISTEN.rsplit(":", 1)
# The first line of a script run on the host that connects to it: PROXY = (address, port).
PROXY_PRELUDE = f"PROXY = {_LOCAL_ADDRESS.strip('[]')!r}, {int(_LOCAL_PORT)}\n"
PROXY_ACCESS_LOG = "/var/log/nginx/dockhard-access.log"
SECRET_FILES = ("db_superuser_password", "db_app_password")

# Runs on the host: one HTTP request, the answer as JSON (standard library only).
_FETCH = """
import json, sys, urllib.error, urllib.request
url, method, data = sys.argv[1], sys.argv[2], sys.argv[3].encode() if len(sys.argv) > 3 else None
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    r = opener.open(urllib.request.Request(url, method=method, data=data), timeout=20)
    status, body, headers = r.status, r.read(), r.headers
except urllib.error.HTTPError as e:
    status, body, headers = e.code, e.read(), e.headers
text = body.decode("utf-8", "replace")
print(json.dumps({"status": status, "body": text, "headers": dict(headers)}))
"""


def require_app(host) -> None:
    if not host.file(APP_DIR).is_directory:
        pytest.skip(f"the app is not deployed on this host ({APP_DIR} is missing)")


def proxy_listen(host) -> str:
    """The host's docker_app_proxy_listen as the role sees it, facts rendered.

    An inventory may name the host's own address by a fact, e.g.
    "{{ ansible_facts['default_ipv4']['address'] }}:8443"; the inventory gives the template.
    """
    default = role_default("docker_app", "docker_app_proxy_listen")
    listen = str(host_var(host, "docker_app_proxy_listen", default))
    if "{{" not in listen:
        return listen
    facts = host.ansible("setup", "gather_subset=network")["ansible_facts"]
    short = {name.removeprefix("ansible_"): value for name, value in facts.items()}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - not HTML
    return env.from_string(listen).render(**facts, ansible_facts=short)


def app_containers(host) -> dict[str, dict]:
    """`docker inspect` of each app container, by compose service name."""
    label = f"label=com.docker.compose.project={PROJECT}"
    ids = run_ok(host, "docker", "ps", "--all", "--quiet", "--filter", label).split()
    assert ids, f"the app is deployed ({APP_DIR}) but no container of project {PROJECT} exists"
    inspected = json.loads(run_ok(host, "docker", "container", "inspect", *ids))
    by_service = {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in inspected}
    assert sorted(by_service) == sorted(SERVICES), f"containers: {sorted(by_service)}"
    return by_service


def all_images(host) -> list[dict]:
    """`docker image inspect` of every image on the host."""
    listed = run_ok(host, "docker", "image", "ls", "--all", "--quiet", "--no-trunc")
    ids = sorted(set(listed.split()))
    return json.loads(run_ok(host, "docker", "image", "inspect", *ids)) if ids else []


def fetch(
    host, path: str, method: str = "GET", body: str | None = None
) -> tuple[int, object, dict]:
    """One request through the reverse proxy on the host: (status, JSON body or None, headers)."""
    argv = ["python3", "-c", _FETCH, PROXY + path, method] + ([body] if body is not None else [])
    answer = json.loads(run_ok(host, *argv))
    try:
        document = json.loads(answer["body"])
    except ValueError:
        document = None
    return answer["status"], document, {k.lower(): v for k, v in answer["headers"].items()}


def psql(host, container: str, sql: str) -> str:
    """Run SQL in the database container as the superuser over its local socket (peer)."""
    argv = ["psql", "-X", "-q", "-tA", "-U", "postgres", "-d", "dockhard", "-c", sql]
    return run_ok(host, "docker", "exec", container, *argv).strip()


def secret_values(host) -> list[str]:
    values = [host.file(f"{SECRETS_DIR}/{name}").content_string.strip() for name in SECRET_FILES]
    assert all(len(v) >= 32 for v in values), "the generated secrets are too short"
    return values
