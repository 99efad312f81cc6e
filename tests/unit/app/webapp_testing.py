"""Helpers shared by the web app's tests (imported by the test modules)."""

from __future__ import annotations

import os
import shutil
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the app's packages may be missing: see conftest.py
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

# Port 9 (discard) on loopback: nothing listens, so connecting is refused at once.
CLOSED_PORT = 9
PASSWORD_MARKER = "Pw-marker-never-logged-7f3a"  # noqa: S105 - a test value
MISSING_PING = "/nonexistent/dockhard/ping"
# Globally routable addresses the policy accepts. Tests only ever hand them to a
# stub ping or a missing binary: no packet is sent to them.
GLOBAL_V4 = "9.9.9.9"
GLOBAL_V6 = "2620:fe::fe"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_ping() -> str | None:
    """iputils ping: $DOCKHARD_TEST_PING (e.g. an unpacked .deb) or the one on PATH."""
    candidate = os.environ.get("DOCKHARD_TEST_PING") or shutil.which("ping")
    if candidate and os.access(candidate, os.X_OK):
        return os.path.abspath(candidate)
    return None


def get(client: FlaskClient, path: str, **params: str) -> TestResponse:
    """GET with the query parameters URL-encoded; buffered so that the response is
    closed as a WSGI server closes it (which runs the audit hook)."""
    return client.get(path, query_string=params or None, buffered=True)


def get_raw(client: FlaskClient, url: str) -> TestResponse:
    """GET with a query string exactly as written (already percent-encoded)."""
    return client.get(url, buffered=True)
