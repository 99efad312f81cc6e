#!/usr/bin/env python3
"""Docker HEALTHCHECK probe for the web app, standard library only (no curl in the image).

Exits 0 when GET /healthz answers 200 with status "ok" or "degraded" (the audit
database or writer has failed only briefly), 1 otherwise, within a 3 s timeout: the
app answers 503 "failing" once its audit trail has failed for longer than its grace
(AUDIT_GRACE_SECONDS, 60 s), so `docker ps` shows the container unhealthy.

The target is, in order: the first argument; $HEALTHCHECK_URL; derived from
$WEBAPP_BIND like gunicorn.conf.py (unix:PATH or HOST:PORT); else
http://127.0.0.1:8000/healthz. A unix:PATH target is probed over the socket.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import urllib.request
from collections.abc import Mapping, Sequence

TIMEOUT_SECONDS = 3.0
DEFAULT_URL = "http://127.0.0.1:8000/healthz"
HEALTHY_STATES = ("ok", "degraded")
MAX_BODY_BYTES = 4096


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix domain socket."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def target_from_env(environ: Mapping[str, str]) -> str:
    if environ.get("HEALTHCHECK_URL"):
        return environ["HEALTHCHECK_URL"]
    bind = environ.get("WEBAPP_BIND", "")
    if bind.startswith("unix:"):
        return bind
    if bind:
        host, _, port = bind.rpartition(":")
        if host in ("", "0.0.0.0", "[::]", "::"):  # noqa: S104 - mapping a wildcard to loopback
            host = "127.0.0.1"
        return f"http://{host}:{port}/healthz"
    return DEFAULT_URL


def probe(target: str, timeout: float = TIMEOUT_SECONDS) -> tuple[int, bytes]:
    """Return (status, body) of GET /healthz at target."""
    if target.startswith("unix:"):
        return _probe_unix(target.removeprefix("unix:"), timeout)
    if not target.startswith(("http://", "https://")):
        raise ValueError(f"unsupported health check target: {target}")
    # No proxy: the probe must reach this container's own server.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(target, timeout=timeout) as response:
        return response.status, response.read(MAX_BODY_BYTES)


def _probe_unix(path: str, timeout: float) -> tuple[int, bytes]:
    connection = UnixHTTPConnection(path, timeout)
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        return response.status, response.read(MAX_BODY_BYTES)
    finally:
        connection.close()


def is_healthy(status: int, body: bytes) -> bool:
    if status != 200:
        return False
    try:
        document = json.loads(body)
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("status") in HEALTHY_STATES


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    target = args[0] if args else target_from_env(os.environ)
    try:
        status, body = probe(target)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        print(f"unhealthy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if is_healthy(status, body):
        print(f"healthy: {body.decode('utf-8', 'replace')}")
        return 0
    print(f"unhealthy: HTTP {status}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
