"""Request limits, security headers, JSON errors and the per-request audit hook."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, RequestURITooLarge

from webapp.audit import AuditEntry, AuditLog
from webapp.calculator import CalculationError
from webapp.pinger import PingBusy, PingUnavailable
from webapp.targets import TargetRefused
from webapp.validation import ValidationError

LOG = logging.getLogger(__name__)

AUDIT_EXTENSION = "dockhard.audit"
PING_POLICY = "dockhard.ping_policy"
PING_SLOTS = "dockhard.ping_slots"
# Seconds a client is told to wait when every ping slot is taken.
PING_RETRY_AFTER = 5

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), geolocation=(), microphone=(), payment=(), usb=()",
}

_SHORT_MESSAGES: dict[int, str] = {
    400: "bad request",
    404: "not found",
    405: "method not allowed",
    413: "request too large",
    414: "query string too long",
    500: "internal server error",
}


class ParameterError(ValidationError):
    """A query parameter breaks the generic limits."""


def register(app: Flask) -> None:
    app.before_request(_start_timer)
    app.before_request(_check_request_size)
    app.after_request(_add_security_headers)
    app.after_request(_schedule_audit)
    app.register_error_handler(TargetRefused, _target_refused)
    app.register_error_handler(ValidationError, _bad_request)
    app.register_error_handler(CalculationError, _bad_request)
    app.register_error_handler(PingUnavailable, _ping_unavailable)
    app.register_error_handler(PingBusy, _ping_busy)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _internal_error)


def json_error(message: str, status: int) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def _start_timer() -> None:
    g.request_started = time.monotonic()


def _check_request_size() -> None:
    config = current_app.config
    if len(request.query_string) > config["MAX_QUERY_STRING"]:
        raise RequestURITooLarge()
    if (request.content_length or 0) > config["MAX_CONTENT_LENGTH"]:
        raise RequestEntityTooLarge()
    limit = config["MAX_PARAM_LENGTH"]
    for key, values in request.args.lists():
        if len(values) > 1:
            raise ParameterError("each query parameter may be given only once")
        if len(key) > limit or len(values[0]) > limit:
            raise ParameterError(f"query parameters are limited to {limit} characters")


def _add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def _schedule_audit(response: Response) -> Response:
    """Write the audit row after the response has been sent (when the server closes it)."""
    if request.path in current_app.config["AUDIT_SKIP_PATHS"]:
        return response
    audit: AuditLog = current_app.extensions[AUDIT_EXTENSION]
    started = g.get("request_started", time.monotonic())
    entry = AuditEntry(
        method=request.method,
        endpoint=request.path,
        client=request.remote_addr,
        status=response.status_code,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    response.call_on_close(lambda: _record(audit, entry))
    return response


def _record(audit: AuditLog, entry: AuditEntry) -> None:
    try:
        audit.record(entry)
    except Exception:  # auditing must never break the server
        LOG.exception("audit hook failed")


def _bad_request(error: ValueError) -> Response:
    return json_error(str(error), 400)


def _target_refused(error: TargetRefused) -> Response:
    """403 naming the rule; the target itself is neither echoed nor logged."""
    response = jsonify(error=str(error), rule=error.rule)
    response.status_code = 403
    return response


def _ping_busy(_: PingBusy) -> Response:
    response = json_error("too many pings at once, retry later", 503)
    response.headers["Retry-After"] = str(PING_RETRY_AFTER)
    return response


def _ping_unavailable(error: PingUnavailable) -> Response:
    LOG.error("%s", error)
    return json_error("ping is not available", 503)


def _http_error(error: HTTPException) -> Any:
    if error.code is None:  # pragma: no cover - not an error response
        return error
    message = _SHORT_MESSAGES.get(error.code) or (error.name or "error").lower()
    response = json_error(message, error.code)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _internal_error(error: Exception) -> Response:
    LOG.error("unhandled %s on %s", type(error).__name__, request.path, exc_info=error)
    return json_error(_SHORT_MESSAGES[500], 500)
