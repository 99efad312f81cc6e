"""The four endpoints of the app."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from webapp import pinger, targets
from webapp.audit import AuditLog
from webapp.calculator import evaluate
from webapp.hardening import AUDIT_EXTENSION, PING_POLICY, PING_SLOTS
from webapp.validation import PingTarget, ValidationError, parse_ping_target, validate_name

bp = Blueprint("webapp", __name__)


@bp.get("/")
def greet() -> Response:
    name = validate_name(request.args.get("name"))
    return jsonify(message=f"Hello, {name}!")


@bp.get("/ping")
def ping() -> Response:
    target = parse_ping_target(request.args.get("ip"))
    config = current_app.config
    policy: targets.Policy = current_app.extensions[PING_POLICY]
    # An address is checked at once, before a slot is taken; a name is resolved in one.
    address = targets.choose(target, policy) if target.family is not None else None
    pinger.ensure_available(config["PING_BINARY"])
    slots: pinger.Slots = current_app.extensions[PING_SLOTS]
    with slots.hold():
        if address is None:
            address = _resolve(target, policy, float(config["DNS_TIMEOUT_SECONDS"]))
        if address is None:
            return jsonify(target=target.value, address=None, reachable=False, rtt_ms=None)
        # The checked address is pinged, never the name: no rebinding in between.
        result = pinger.ping(config["PING_BINARY"], address, int(config["PING_WAIT_SECONDS"]))
    return jsonify(
        target=target.value, address=result.target, reachable=result.reachable, rtt_ms=result.rtt_ms
    )


def _resolve(target: PingTarget, policy: targets.Policy, timeout: float) -> PingTarget | None:
    """The checked address of a host name, or None when the name has no address."""
    try:
        return targets.choose(target, policy, timeout)
    except targets.UnresolvedName:
        return None


@bp.get("/calculate")
def calculate() -> Response:
    expression = request.args.get("expr")
    if expression is None:
        raise ValidationError("expr is required")
    return jsonify(expr=expression, result=evaluate(expression))


@bp.get("/healthz")
def healthz() -> Response:
    """200 while the audit trail works or has failed only briefly ("degraded"); 503
    ("failing") once the database or the audit writer has failed for longer than
    AUDIT_GRACE_SECONDS, so the container's HEALTHCHECK and `docker ps` say so."""
    audit: AuditLog = current_app.extensions[AUDIT_EXTENSION]
    if not audit.enabled:
        return jsonify(status="ok", db="disabled")
    status = audit.status(float(current_app.config["AUDIT_GRACE_SECONDS"]))
    response = jsonify(status=status, db="ok" if status == "ok" else "unavailable")
    if status == "failing":
        response.status_code = 503
    return response
