"""WSGI entry point for gunicorn: ``webapp.wsgi:app``."""

from __future__ import annotations

import logging

from webapp import create_app


def _use_gunicorn_logging() -> None:
    """Send the app's log records to gunicorn's error log, at its level."""
    server_log = logging.getLogger("gunicorn.error")
    app_log = logging.getLogger("webapp")
    if server_log.handlers:
        app_log.handlers = list(server_log.handlers)
        app_log.setLevel(server_log.level)
        app_log.propagate = False


_use_gunicorn_logging()
app = create_app()
