"""Which addresses /ping may reach: globally routable unicast only (SSRF guard).

A public ping has no reason to reach the instance metadata service, loopback,
link-local, private or shared address space, or the app's own networks (a
compose service name such as ``db`` resolves into them). Host names are resolved
here, with a timeout, every resolved address is checked, and ping is handed the
checked address, never the name: DNS cannot rebind between the check and the ping.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from webapp.validation import PingTarget, ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# EC2's instance metadata service (IPv4 and the Nitro IPv6 endpoint): refused by
# name, whatever else the policy says, so no allowlist can open it.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254")
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
DNS_TIMEOUT_SECONDS = 2.0
# Name lookups run here so a hung resolver cannot hold a request past its timeout;
# the pool bounds how many lookups may hang at once.
_RESOLVER = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")


class TargetRefused(ValidationError):
    """The target is valid but the policy refuses it; ``rule`` names the rule."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class UnresolvedName(LookupError):
    """The host name has no address (or the lookup timed out)."""


@dataclass(frozen=True)
class Policy:
    """Empty ``allow``: any globally routable unicast address; else only inside it."""

    allow: tuple[IPNetwork, ...] = ()


def parse_allowlist(raw: str) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs; each must be globally routable (no opening of internal ranges)."""
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        network = ipaddress.ip_network(item, strict=True)
        if not (network.network_address.is_global and network.broadcast_address.is_global):
            raise ValueError(f"{item} is not globally routable")
        networks.append(network)
    return tuple(networks)


def normalise(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) is the IPv4 address itself."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def embedded(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses a 6to4, Teredo or NAT64 address leads to (each is checked too)."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    found = [address.sixtofour] if address.sixtofour is not None else []
    if address.teredo is not None:
        found += list(address.teredo)
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def check(address: IPAddress, policy: Policy) -> IPAddress:
    """Return the normalised address, or raise TargetRefused naming the rule."""
    plain = normalise(address)
    candidates = (plain, *embedded(plain))
    if any(candidate in METADATA_ADDRESSES for candidate in candidates):
        raise TargetRefused("metadata", "the instance metadata service is not a ping target")
    # is_global counts multicast as global: refused here as not unicast.
    if not all(c.is_global and not c.is_multicast for c in candidates):
        raise TargetRefused("not-global", "only globally routable unicast addresses may be pinged")
    if policy.allow and not any(plain in network for network in policy.allow):
        raise TargetRefused("not-allowlisted", "the address is outside the allowed networks")
    return plain


def resolve(name: str, timeout: float = DNS_TIMEOUT_SECONDS) -> list[IPAddress]:
    """Every address of ``name`` (A and AAAA), looked up within ``timeout`` seconds."""
    future = _RESOLVER.submit(socket.getaddrinfo, name, None, 0, socket.SOCK_DGRAM)
    try:
        infos = future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise UnresolvedName("lookup timed out") from None
    except (OSError, UnicodeError):
        raise UnresolvedName("no address") from None
    return _addresses(info[4][0] for info in infos)


def _addresses(raw: Iterable[object]) -> list[IPAddress]:
    found: list[IPAddress] = []
    for item in raw:
        address = ipaddress.ip_address(str(item).partition("%")[0])
        if address not in found:
            found.append(address)
    if not found:
        raise UnresolvedName("no address")
    return found


def choose(target: PingTarget, policy: Policy, timeout: float = DNS_TIMEOUT_SECONDS) -> PingTarget:
    """The address to ping: the target's own, or the first of its name's, all checked."""
    if target.family is not None:
        candidates: Sequence[IPAddress] = [ipaddress.ip_address(target.value)]
    else:
        candidates = resolve(target.value, timeout)
    # Every address must pass: a name with one internal address is refused whole.
    checked = [check(address, policy) for address in candidates]
    chosen = checked[0]
    return PingTarget(value=str(chosen), family=chosen.version)
