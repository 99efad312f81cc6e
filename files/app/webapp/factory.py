"""Application factory."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp import hardening, pinger, routes, settings
from webapp.audit import AuditLog

WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from defaults, then the environment, then ``config``."""
    app = Flask(__name__)
    app.config.from_mapping(settings.DEFAULTS)
    app.config.from_mapping(settings.from_env(os.environ))
    if config:
        app.config.from_mapping(config)
    _never_debug(app)
    app.extensions[hardening.AUDIT_EXTENSION] = AuditLog(
        settings.db_settings(app.config), enabled=bool(app.config["AUDIT_ENABLED"])
    )
    app.extensions[hardening.PING_POLICY] = settings.ping_policy(app.config)
    app.extensions[hardening.PING_SLOTS] = pinger.Slots(int(app.config["PING_CONCURRENCY"]))
    proxies = int(app.config["TRUSTED_PROXIES"])
    if proxies:
        app.wsgi_app = _forwarded_from_socket_only(  # type: ignore[method-assign]
            app.wsgi_app, ProxyFix(app.wsgi_app, x_for=proxies)
        )
    hardening.register(app)
    app.register_blueprint(routes.bp)
    return app


def _forwarded_from_socket_only(direct: WSGIApp, proxied: WSGIApp) -> WSGIApp:
    """Trust X-Forwarded-For only on the unix socket that only the proxy can reach.

    gunicorn gives a unix-socket request no peer address; a TCP peer (any
    address) is a direct client, whose forwarded headers are ignored.
    """

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if _is_ip(environ.get("REMOTE_ADDR")):
            return direct(environ, start_response)
        return proxied(environ, start_response)

    return app


def _is_ip(value: object) -> bool:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def _never_debug(app: Flask) -> None:
    """Debug mode (interactive tracebacks) and exception propagation are never enabled."""
    app.debug = False
    app.config["DEBUG"] = False
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.config["TRAP_HTTP_EXCEPTIONS"] = False
    app.config["TRAP_BAD_REQUEST_ERRORS"] = False
