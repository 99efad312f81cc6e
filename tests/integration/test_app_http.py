"""The deployed app over HTTP through the reverse proxy on the host, hostile input included."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from app_stack import (
    LOCAL_LISTEN,
    PROXY_ACCESS_LOG,
    app_containers,
    fetch,
    proxy_listen,
    psql,
    secret_values,
)
from conftest import host_name, run_ok
from payloads import CALC_CODE_EXECUTION, CALC_EXHAUSTION, MARKER, PING_INJECTIONS

ROOT = Path(__file__).resolve().parents[2]

AUDIT_COUNT_SQL = "SELECT count(*) FROM request_audit WHERE endpoint = '/'"
GRANTS_SQL = (
    "SELECT string_agg(privilege_type, ',' ORDER BY privilege_type)"
    " FROM information_schema.role_table_grants"
    " WHERE grantee = 'dockhard_app' AND table_name = 'request_audit'"
)


# Skip where the app is not deployed; fail where it is deployed and wrong.
pytestmark = pytest.mark.usefixtures("app_deployed")


def _calc(host, expr: str):
    return fetch(host, "/calculate?expr=" + quote(expr, safe=""))


def _no_marker(host, containers) -> None:
    check = host.run(f"docker exec {containers['web']['Id']} test -e {MARKER}")
    assert check.rc == 1, f"{MARKER} exists in the web container: an injection was executed"


def _audit_count(host, containers) -> int:
    """Audit rows of requests to / (query strings are never stored)."""
    return int(psql(host, containers["db"]["Id"], AUDIT_COUNT_SQL))


def test_app_calculate_addition(host):
    status, body, headers = _calc(host, "2+3")
    assert status == 200
    assert body["result"] == 5
    assert headers["content-type"].startswith("application/json")


def test_app_calculate_parentheses(host):
    status, body, _ = fetch(host, "/calculate?expr=(2%2B3)*4")
    assert (status, body["result"]) == (200, 20)


@pytest.mark.parametrize("payload", PING_INJECTIONS)
def test_app_ping_injection_refused(host, containers, payload):
    status, body, headers = fetch(host, "/ping?ip=" + quote(payload, safe=""))
    assert 400 <= status < 500, (status, body)
    assert isinstance(body, dict) and "error" in body
    assert headers["content-type"].startswith("application/json")
    _no_marker(host, containers)


@pytest.mark.parametrize("expr", CALC_CODE_EXECUTION)
def test_app_calculate_code_execution_refused(host, containers, expr):
    status, body, _ = _calc(host, expr)
    assert 400 <= status < 500, (status, body)
    assert isinstance(body, dict) and "error" in body
    _no_marker(host, containers)


@pytest.mark.parametrize("expr", CALC_EXHAUSTION)
def test_app_calculate_resource_exhaustion_refused(host, expr):
    status, body, _ = _calc(host, expr)
    assert 400 <= status < 500, (status, body)
    assert isinstance(body, dict) and "error" in body


def test_app_ping_refuses_loopback(host):
    # Loopback is no ping target (issue 15); test_app_boundaries.py pings an
    # allowed address behind a REJECT rule, and all internal targets.
    status, body, _ = fetch(host, "/ping?ip=127.0.0.1")
    assert (status, body.get("rule")) in ((403, "not-global"), (429, None))


def test_app_healthz(host):
    status, body, _ = fetch(host, "/healthz")
    assert status == 200
    assert body == {"status": "ok", "db": "ok"}


def test_app_audit_row_for_each_call(host, containers):
    before = _audit_count(host, containers)
    calls = 3
    for i in range(calls):
        assert fetch(host, f"/?name=audit{i}")[0] == 200
    # The row is written when the response is closed: allow it a moment.
    deadline = time.monotonic() + 10
    while _audit_count(host, containers) < before + calls and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _audit_count(host, containers) == before + calls
    # Written by the app's own role, which may not rewrite its history.
    assert psql(host, containers["db"]["Id"], GRANTS_SQL) == "INSERT,SELECT"


def test_app_errors_are_json(host):
    status, body, _ = fetch(host, "/no-such-page")
    assert status == 404 and "error" in body
    status, body, _ = fetch(host, "/?name=" + quote("<script>", safe=""))
    assert status == 400 and "error" in body


def test_proxy_request_size_limit(host):
    status, body, _ = fetch(host, "/", method="POST", body="x" * 8192)
    assert status == 413
    assert body == {"error": "request body too large"}


def test_proxy_headers(host):
    status, _, headers = fetch(host, "/healthz")
    assert status == 200
    assert headers.get("server", "nginx") == "nginx"  # server_tokens off: no version
    assert headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" in headers


def test_proxy_access_log_has_paths_not_query_strings(host):
    path, query = f"/p{time.time_ns()}", f"q{time.time_ns()}"
    assert fetch(host, f"{path}?name={query}")[0] == 404
    log = host.file(PROXY_ACCESS_LOG)
    text = ""
    deadline = time.monotonic() + 10  # nginx flushes its log buffer every second
    while path not in text and time.monotonic() < deadline:
        time.sleep(0.5)
        text = log.content_string if log.exists else ""
    assert f'"GET {path} HTTP/1.1" 404' in text, "no access log line for the request"
    assert query not in text


def _nginx_listening(host) -> set[str]:
    """Local address:port of every TCP socket nginx listens on (ss's [v6]:port form)."""
    lines = run_ok(host, "ss", "-Hltnp").splitlines()
    return {line.split()[3] for line in lines if '(("nginx",' in line}


def test_proxy_listens_on_its_listeners_only(host):
    # docker_app_proxy_listen, plus the loopback listener when that is another
    # address (a load balancer's); never a wildcard, no other port (no default site).
    assert _nginx_listening(host) == {proxy_listen(host), LOCAL_LISTEN}


def test_app_secrets_not_exposed(host, containers):
    secrets = secret_values(host)
    for service, c in containers.items():
        state = json.dumps(c)
        logs = run_ok(host, "sh", "-c", f"docker logs {c['Id']} 2>&1")
        for secret in secrets:
            assert secret not in state, f"a secret is in the inspect data of {service}"
            assert secret not in logs, f"a secret is in the logs of {service}"
        passwords = [e for e in c["Config"]["Env"] if "PASSWORD=" in e.upper()]
        assert passwords == [], f"{service}: a password in the environment"


def test_app_play_check_mode_changes_nothing(host, containers):
    """`app.yml --check --diff` on a deployed host reports no change and restarts nothing."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory:
        pytest.skip("needs the Molecule inventory (run through molecule verify)")
    started = {s: c["State"]["StartedAt"] for s, c in containers.items()}
    argv = ["ansible-playbook", "-i", inventory, str(ROOT / "playbooks/app.yml")]
    argv += ["--limit", host_name(host), "--check", "--diff"]
    play = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False)
    assert play.returncode == 0, play.stdout[-3000:]
    recap = [line for line in play.stdout.splitlines() if line.startswith(host_name(host) + " ")]
    assert recap and " changed=0 " in recap[-1], recap
    after = {s: c["State"]["StartedAt"] for s, c in app_containers(host).items()}
    assert after == started
