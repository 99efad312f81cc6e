"""HTTP behaviour: greeting, JSON errors, limits, security headers, health with the DB down."""

from __future__ import annotations

import logging
import time
from typing import Any

import healthcheck
import pytest
from flask import Flask
from flask.testing import FlaskClient
from webapp import create_app
from webapp.hardening import SECURITY_HEADERS
from webapp_testing import PASSWORD_MARKER, get, get_raw


@pytest.mark.parametrize("name", ["bob", "Alice", "x", "abc123", "A" * 64, "0"])
def test_greets_alphanumeric_names(client: FlaskClient, name: str) -> None:
    response = get(client, "/", name=name)
    assert response.status_code == 200
    assert response.get_json() == {"message": f"Hello, {name}!"}
    assert response.mimetype == "application/json"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "A" * 65,
        "bob smith",
        "bob;id",
        "bob$(id)",
        "bob`id`",
        "bob|id",
        "<script>alert(1)</script>",
        "bob\n",
        "bob\x00",
        "b\u043eb",  # Cyrillic o
        "\uff42\uff4f\uff42",  # fullwidth letters
        "\u0661\u0662",  # Arabic-Indic digits
        "bob\u200b",  # zero-width space
        "\u00e9",
        "-f",
        "../etc",
    ],
)
def test_refuses_other_names(client: FlaskClient, name: str) -> None:
    response = get(client, "/", name=name)
    assert response.status_code == 400
    assert response.get_json() == {"error": "name must be 1-64 ASCII letters or digits"}


@pytest.mark.parametrize(
    "url", ["/", "/?name=bob%0a", "/?name=bob%0d%0aSet-Cookie:x=1", "/?name=a&name=b"]
)
def test_refuses_raw_hostile_names(client: FlaskClient, url: str) -> None:
    response = get_raw(client, url)
    assert response.status_code == 400
    assert "Set-Cookie" not in response.headers


def test_parameter_length_limit(client: FlaskClient) -> None:
    response = get(client, "/", name="a" * 1025)
    assert response.status_code == 400
    assert response.get_json() == {"error": "query parameters are limited to 1024 characters"}
    assert get(client, "/", name="a", **{"k" * 1025: "v"}).status_code == 400


def test_query_string_length_limit(client: FlaskClient) -> None:
    response = get_raw(client, "/?name=bob&pad=" + "a" * 2100)
    assert response.status_code == 414
    assert response.get_json() == {"error": "query string too long"}


def test_repeated_parameters_are_refused(client: FlaskClient) -> None:
    response = get_raw(client, "/calculate?expr=1&expr=__import__('os')")
    assert response.status_code == 400
    assert response.get_json() == {"error": "each query parameter may be given only once"}


def test_unknown_path_is_json_404(client: FlaskClient) -> None:
    response = get(client, "/admin")
    assert response.status_code == 404
    assert response.get_json() == {"error": "not found"}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_json_405(client: FlaskClient, method: str) -> None:
    response = client.open("/calculate", method=method, buffered=True)
    assert response.status_code == 405
    assert response.get_json() == {"error": "method not allowed"}
    assert "GET" in response.headers["Allow"]


def test_request_body_is_limited(client: FlaskClient) -> None:
    response = client.get("/", query_string={"name": "bob"}, data=b"x" * 4096, buffered=True)
    assert response.status_code == 413
    assert response.get_json() == {"error": "request too large"}


def test_security_headers_on_success_and_errors(client: FlaskClient) -> None:
    for response in (
        get(client, "/", name="bob"),
        get(client, "/", name="!"),
        get(client, "/missing"),
        get(client, "/healthz"),
        client.post("/", buffered=True),
    ):
        for header, value in SECURITY_HEADERS.items():
            assert response.headers[header] == value
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert "Set-Cookie" not in response.headers


def _app_with_failing_route(config: dict[str, Any]) -> Flask:
    app = create_app(config)

    def explode() -> str:
        raise RuntimeError("internal detail /etc/secret-path")

    app.add_url_rule("/explode", "explode", explode)
    return app


def test_unhandled_error_is_json_500_without_details(
    db_down_config: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    client = _app_with_failing_route(db_down_config).test_client()
    with caplog.at_level(logging.ERROR, logger="webapp"):
        response = get(client, "/explode")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal server error"}
    assert b"secret-path" not in response.data
    assert b"Traceback" not in response.data
    assert "RuntimeError" in caplog.text  # the detail goes to the server log only


def test_debug_mode_cannot_be_switched_on(
    db_down_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_DEBUG", "1")
    app = _app_with_failing_route({**db_down_config, "DEBUG": True, "PROPAGATE_EXCEPTIONS": True})
    assert app.debug is False
    response = get(app.test_client(), "/explode")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal server error"}


# --- database down ------------------------------------------------------------------------


def test_healthz_degraded_when_db_down_and_requests_still_served(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        health = get(client, "/healthz")
        assert health.status_code == 200
        assert health.get_json() == {"status": "degraded", "db": "unavailable"}
        for _ in range(3):
            assert get(client, "/", name="bob").status_code == 200
            assert get(client, "/calculate", expr="2*21").get_json()["result"] == 42
            assert get(client, "/", name="b b").status_code == 400
        assert client.application.extensions["dockhard.audit"].flush()
        assert get(client, "/healthz").get_json()["status"] == "degraded"
    assert "127.0.0.1:9" in caplog.text
    assert "OperationalError, connection refused" in caplog.text
    assert PASSWORD_MARKER not in caplog.text


def test_db_down_backs_off_instead_of_retrying_each_request(app: Flask) -> None:
    audit = app.extensions["dockhard.audit"]
    client = app.test_client()
    assert get(client, "/", name="bob").status_code == 200
    assert audit.flush()
    retry_at = audit._retry_at
    assert retry_at > 0
    for _ in range(5):
        assert get(client, "/", name="bob").status_code == 200
    assert audit.flush()
    assert audit._retry_at == retry_at  # no new attempt inside the backoff window


def test_rows_lost_while_the_db_is_down_are_counted_not_logged_per_batch(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    audit = app.extensions["dockhard.audit"]
    client = app.test_client()
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            assert get(client, "/", name="bob").status_code == 200
            assert audit.flush()
    assert audit._unwritten == 5
    assert caplog.text.count("audit insert failed") == 1  # the first failure only


def test_requests_do_not_wait_for_the_audit_database(
    db_down_config: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While the database hangs (its connection lock held), requests are still
    answered at once; rows queue up to the bound, and the rest are dropped, logged."""
    monkeypatch.setattr("webapp.audit.QUEUE_MAX_ROWS", 2)
    app = create_app(db_down_config)
    audit = app.extensions["dockhard.audit"]
    client = app.test_client()
    with caplog.at_level(logging.WARNING), audit._lock:
        for _ in range(6):
            assert get(client, "/", name="bob").status_code == 200
        assert audit._queue.qsize() == 2
    assert "audit queue full: 1 rows dropped so far" in caplog.text
    assert audit.flush()


def test_healthz_without_audit(db_down_config: dict[str, Any]) -> None:
    app = create_app({**db_down_config, "AUDIT_ENABLED": False})
    response = get(app.test_client(), "/healthz")
    assert response.get_json() == {"status": "ok", "db": "disabled"}


def test_no_secret_in_config(app: Flask) -> None:
    assert PASSWORD_MARKER not in repr(dict(app.config))
    assert PASSWORD_MARKER not in repr(app.extensions["dockhard.audit"].settings)


def test_healthz_fails_once_the_audit_trail_failed_longer_than_the_grace(
    db_down_config: dict[str, Any],
) -> None:
    """Degraded (200) first; 503 "failing" after AUDIT_GRACE_SECONDS, so the
    container's HEALTHCHECK, and `docker ps`, report the lost audit trail."""
    app = create_app({**db_down_config, "AUDIT_GRACE_SECONDS": 0.3})
    client = app.test_client()
    try:
        first = get(client, "/healthz")
        assert (first.status_code, first.get_json()["status"]) == (200, "degraded")
        assert get(client, "/", name="bob").status_code == 200  # a row the writer cannot write
        assert app.extensions["dockhard.audit"].flush()
        time.sleep(0.5)
        later = get(client, "/healthz")
        assert later.status_code == 503
        assert later.get_json() == {"status": "failing", "db": "unavailable"}
        assert not healthcheck.is_healthy(later.status_code, later.data)
        # Requests are still served.
        assert get(client, "/calculate", expr="2*21").get_json()["result"] == 42
    finally:
        app.extensions["dockhard.audit"].close()
