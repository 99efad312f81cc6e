"""Configuration from the environment and the secret file."""

from __future__ import annotations

from pathlib import Path

import pytest
from webapp import create_app
from webapp.audit import AuditEntry, AuditLog, DbSettings, client_address, read_secret
from webapp.settings import ConfigError, from_env


def test_defaults() -> None:
    settings = from_env({})
    assert settings == {
        "DB_HOST": "db",
        "DB_PORT": 5432,
        "DB_NAME": "dockhard",
        "DB_USER": "dockhard_app",
        "DB_PASSWORD_FILE": "/run/secrets/db_app_password",
        "DB_CONNECT_TIMEOUT": 2,
        "DB_SSLMODE": "prefer",
        "TRUSTED_PROXIES": 0,
        "PING_CONCURRENCY": 2,
        "PING_ALLOW": "",
        "PING_BINARY": "/usr/bin/ping",
    }


def test_environment_overrides() -> None:
    settings = from_env(
        {
            "DB_HOST": "10.0.0.5",
            "DB_PORT": "6432",
            "DB_NAME": "audit",
            "DB_USER": "auditor",
            "DB_PASSWORD_FILE": "/run/secrets/other",
            "DB_CONNECT_TIMEOUT": "5",
            "WEBAPP_TRUSTED_PROXIES": "1",
        }
    )
    assert settings["DB_HOST"] == "10.0.0.5"
    assert settings["DB_PORT"] == 6432
    assert settings["DB_CONNECT_TIMEOUT"] == 5
    assert settings["TRUSTED_PROXIES"] == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DB_PORT", "abc"),
        ("DB_PORT", "0"),
        ("DB_PORT", "70000"),
        ("DB_CONNECT_TIMEOUT", "-1"),
        ("DB_CONNECT_TIMEOUT", "600"),
        ("WEBAPP_TRUSTED_PROXIES", "9"),
        ("WEBAPP_PING_CONCURRENCY", "0"),
    ],
)
def test_invalid_environment_fails_at_start(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        from_env({name: value})


def test_password_is_not_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", "from-env-must-be-ignored")
    monkeypatch.setenv("DB_HOST", "127.0.0.1")
    app = create_app()
    assert "from-env-must-be-ignored" not in repr(dict(app.config))
    assert app.config["DB_HOST"] == "127.0.0.1"


def test_read_secret(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret pass'word\n", encoding="utf-8")
    assert read_secret(str(secret)) == "s3cret pass'word"
    secret.write_text("no-newline", encoding="utf-8")
    assert read_secret(str(secret)) == "no-newline"
    secret.write_text("\n", encoding="utf-8")
    assert read_secret(str(secret)) is None
    secret.write_text("x" * 5000, encoding="utf-8")
    assert read_secret(str(secret)) is None
    assert read_secret(str(tmp_path / "missing")) is None
    assert read_secret(str(tmp_path)) is None  # a directory


def test_client_address() -> None:
    assert client_address("10.1.2.3") == "10.1.2.3"
    assert client_address("2001:DB8::1") == "2001:db8::1"
    assert client_address("") is None
    assert client_address(None) is None
    assert client_address("unix-socket") is None


def test_disabled_audit_writes_nothing() -> None:
    audit = AuditLog(DbSettings(host="127.0.0.1", port=9), enabled=False)
    entry = AuditEntry(method="GET", endpoint="/", client=None, status=200, duration_ms=1)
    assert audit.record(entry) is False
    assert audit.healthy() is False
