"""Application factory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp import hardening, routes, settings
from webapp.audit import AuditLog


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
    proxies = int(app.config["TRUSTED_PROXIES"])
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies)  # type: ignore[method-assign]
    hardening.register(app)
    app.register_blueprint(routes.bp)
    return app


def _never_debug(app: Flask) -> None:
    """Debug mode (interactive tracebacks) and exception propagation are never enabled."""
    app.debug = False
    app.config["DEBUG"] = False
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.config["TRAP_HTTP_EXCEPTIONS"] = False
    app.config["TRAP_BAD_REQUEST_ERRORS"] = False
