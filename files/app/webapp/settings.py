"""Configuration: safe defaults, overridable by environment variables and by create_app()."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webapp.audit import DbSettings
from webapp.targets import Policy, parse_allowlist

DEFAULTS: dict[str, Any] = {
    # Absolute path of iputils ping; a missing binary makes /ping answer 503.
    "PING_BINARY": "/usr/bin/ping",
    "PING_WAIT_SECONDS": 2,
    # Pings (with their name lookup) at once per worker process; beyond it /ping
    # answers 503 with Retry-After, so pings never hold every server thread.
    "PING_CONCURRENCY": 2,
    # Operator allowlist (comma-separated CIDRs, each globally routable): when set,
    # /ping reaches only addresses inside it. Empty: any global unicast address.
    "PING_ALLOW": "",
    "DNS_TIMEOUT_SECONDS": 2.0,
    # Request limits: one query parameter, the whole query string, a request body.
    "MAX_PARAM_LENGTH": 1024,
    "MAX_QUERY_STRING": 2048,
    "MAX_CONTENT_LENGTH": 1024,
    # Audit trail in PostgreSQL. Health probes are not audited (they would flood it).
    "AUDIT_ENABLED": True,
    "AUDIT_SKIP_PATHS": ("/healthz",),
    # /healthz answers 503 (and the container turns unhealthy) once the database
    # or the audit writer has been failing for longer than this.
    "AUDIT_GRACE_SECONDS": 60,
    # Number of reverse proxies whose X-Forwarded-For is trusted (0: none).
    "TRUSTED_PROXIES": 0,
}

_DB_DEFAULTS = DbSettings()


class ConfigError(ValueError):
    """A setting from the environment is invalid."""


def from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """Settings read from the environment. No secret is read here: only a file path."""
    return {
        "DB_HOST": environ.get("DB_HOST", _DB_DEFAULTS.host),
        "DB_PORT": _int(environ, "DB_PORT", _DB_DEFAULTS.port, 1, 65535),
        "DB_NAME": environ.get("DB_NAME", _DB_DEFAULTS.dbname),
        "DB_USER": environ.get("DB_USER", _DB_DEFAULTS.user),
        "DB_PASSWORD_FILE": environ.get("DB_PASSWORD_FILE", _DB_DEFAULTS.password_file),
        "DB_CONNECT_TIMEOUT": _int(
            environ, "DB_CONNECT_TIMEOUT", _DB_DEFAULTS.connect_timeout, 1, 30
        ),
        "DB_SSLMODE": environ.get("DB_SSLMODE", _DB_DEFAULTS.sslmode),
        "TRUSTED_PROXIES": _int(environ, "WEBAPP_TRUSTED_PROXIES", 0, 0, 5),
        "PING_CONCURRENCY": _int(environ, "WEBAPP_PING_CONCURRENCY", 2, 1, 64),
        "PING_ALLOW": environ.get("WEBAPP_PING_ALLOW", ""),
        "PING_BINARY": environ.get("WEBAPP_PING_BINARY", DEFAULTS["PING_BINARY"]),
    }


def ping_policy(config: Mapping[str, Any]) -> Policy:
    try:
        return Policy(allow=parse_allowlist(str(config["PING_ALLOW"])))
    except ValueError as exc:
        raise ConfigError(f"WEBAPP_PING_ALLOW: {exc}") from None


def db_settings(config: Mapping[str, Any]) -> DbSettings:
    return DbSettings(
        host=str(config["DB_HOST"]),
        port=int(config["DB_PORT"]),
        dbname=str(config["DB_NAME"]),
        user=str(config["DB_USER"]),
        password_file=str(config["DB_PASSWORD_FILE"]),
        connect_timeout=int(config["DB_CONNECT_TIMEOUT"]),
        sslmode=str(config["DB_SSLMODE"]),
    )


def _int(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise ConfigError(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}")
    return value
