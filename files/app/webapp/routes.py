"""The four endpoints of the app."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from webapp import pinger
from webapp.audit import AuditLog
from webapp.calculator import evaluate
from webapp.hardening import AUDIT_EXTENSION
from webapp.validation import ValidationError, parse_ping_target, validate_name

bp = Blueprint("webapp", __name__)


@bp.get("/")
def greet() -> Response:
    name = validate_name(request.args.get("name"))
    return jsonify(message=f"Hello, {name}!")


@bp.get("/ping")
def ping() -> Response:
    target = parse_ping_target(request.args.get("ip"))
    config = current_app.config
    result = pinger.ping(config["PING_BINARY"], target, int(config["PING_WAIT_SECONDS"]))
    return jsonify(target=result.target, reachable=result.reachable, rtt_ms=result.rtt_ms)


@bp.get("/calculate")
def calculate() -> Response:
    expression = request.args.get("expr")
    if expression is None:
        raise ValidationError("expr is required")
    return jsonify(expr=expression, result=evaluate(expression))


@bp.get("/healthz")
def healthz() -> Response:
    """Always 200 while the app serves; a database outage only degrades it."""
    audit: AuditLog = current_app.extensions[AUDIT_EXTENSION]
    if not audit.enabled:
        return jsonify(status="ok", db="disabled")
    if audit.healthy():
        return jsonify(status="ok", db="ok")
    return jsonify(status="degraded", db="unavailable")
