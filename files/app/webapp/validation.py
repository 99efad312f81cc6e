"""Validation of user-supplied names and ping targets.

All checks are whitelists over ASCII and use ``re.fullmatch``: ``$`` would also
match before a trailing newline, and ``str.isalnum``/``\\d`` accept non-ASCII
letters and digits (look-alikes).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

MAX_NAME_LENGTH = 64
MAX_HOSTNAME_LENGTH = 253

_NAME_RE = re.compile(r"[A-Za-z0-9]{1,64}")
_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class ValidationError(ValueError):
    """The input is not acceptable; the message is safe to show to the client."""


@dataclass(frozen=True)
class PingTarget:
    """A validated ping target: a canonical IP address or an RFC 1123 host name."""

    value: str
    family: int | None  # 4, 6, or None for a host name (resolved and checked by targets.py)


def validate_name(raw: str | None) -> str:
    """Return ``raw`` if it is 1-64 ASCII letters or digits."""
    if raw is None or _NAME_RE.fullmatch(raw) is None:
        raise ValidationError(f"name must be 1-{MAX_NAME_LENGTH} ASCII letters or digits")
    return raw


def parse_ping_target(raw: str | None) -> PingTarget:
    """Validate an IPv4/IPv6 address or a host name to be handed to ping."""
    if raw is None or raw == "":
        raise ValidationError("ip is required")
    if len(raw) > MAX_HOSTNAME_LENGTH:
        raise ValidationError(f"ip must be at most {MAX_HOSTNAME_LENGTH} characters")
    if raw.startswith("-"):
        raise ValidationError("ip must not start with '-'")
    if not raw.isascii() or not raw.isprintable():
        raise ValidationError("ip may only contain printable ASCII characters")
    address = _parse_address(raw)
    if address is not None:
        return address
    if not is_hostname(raw):
        raise ValidationError("ip must be an IPv4 address, an IPv6 address or a host name")
    return PingTarget(value=raw.lower(), family=None)


def _parse_address(raw: str) -> PingTarget | None:
    if "%" in raw:
        raise ValidationError("IPv6 scope identifiers are not supported")
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if address.is_unspecified or address.is_multicast:
        raise ValidationError("unspecified and multicast addresses are not allowed")
    if isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address(
        "255.255.255.255"
    ):
        raise ValidationError("the broadcast address is not allowed")
    return PingTarget(value=str(address), family=address.version)


def is_hostname(raw: str) -> bool:
    """RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.

    The last label must start with a letter: top-level domains do, and this refuses
    numeric forms that resolvers turn into IPv4 addresses (``2130706433``,
    ``0x7f000001``, ``127.1``, ``1.2.3.999``).
    """
    if not raw or len(raw) > MAX_HOSTNAME_LENGTH:
        return False
    labels = raw.split(".")
    if not all(_LABEL_RE.fullmatch(label) for label in labels):
        return False
    return labels[-1][0].isascii() and labels[-1][0].isalpha()
