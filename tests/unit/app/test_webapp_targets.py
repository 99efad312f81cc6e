"""/ping's target policy: globally routable unicast only, names resolved and checked
by the app, an operator allowlist, a bound on concurrent pings, nothing of the
target in the logs.

No test here sends a packet: DNS is stubbed (socket.getaddrinfo) and ping is a stub
script that records its argv, or a missing binary.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from webapp import create_app, targets
from webapp.settings import ConfigError
from webapp_testing import GLOBAL_V4, GLOBAL_V6, get

INTERNAL = [
    ("127.0.0.1", "not-global"),
    ("127.0.0.2", "not-global"),
    ("::1", "not-global"),
    ("10.0.0.1", "not-global"),
    ("172.30.81.2", "not-global"),  # the app's backend network
    ("192.168.1.1", "not-global"),
    ("100.64.0.1", "not-global"),  # shared address space (carrier-grade NAT)
    ("169.254.1.1", "not-global"),
    ("fe80::1", "not-global"),
    ("fd12:3456::1", "not-global"),
    ("192.0.2.1", "not-global"),
    ("2001:db8::1", "not-global"),
    ("239.1.1.1", "not-global"),  # multicast: is_global, but not unicast
    ("ff0e::1", "not-global"),
    ("169.254.169.254", "metadata"),
    ("::ffff:169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 form
    ("2002:a9fe:a9fe::1", "metadata"),  # 6to4 form
    ("::ffff:127.0.0.1", "not-global"),
    ("::ffff:10.0.0.1", "not-global"),
    ("64:ff9b::a00:1", "not-global"),
    ("2002:0a00:0001::1", "not-global"),
]


# Multicast never reaches the policy over HTTP: validation answers 400 first.
INTERNAL_UNICAST = [row for row in INTERNAL if not ipaddress.ip_address(row[0]).is_multicast]


def _address(text: str) -> targets.IPAddress:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(("address", "rule"), INTERNAL)
def test_internal_addresses_are_refused_by_rule(address: str, rule: str) -> None:
    with pytest.raises(targets.TargetRefused) as refused:
        targets.check(_address(address), targets.Policy())
    assert refused.value.rule == rule


@pytest.mark.parametrize("address", [GLOBAL_V4, GLOBAL_V6, "1.1.1.1"])
def test_global_unicast_is_allowed(address: str) -> None:
    assert targets.check(_address(address), targets.Policy()) == _address(address)


def test_ipv4_mapped_is_normalised() -> None:
    assert targets.check(_address("::ffff:9.9.9.9"), targets.Policy()) == _address("9.9.9.9")


def test_allowlist_narrows_and_never_opens_metadata() -> None:
    policy = targets.Policy(allow=targets.parse_allowlist("9.9.9.0/24, 2620:fe::/48"))
    assert targets.check(_address("9.9.9.9"), policy)
    assert targets.check(_address(GLOBAL_V6), policy)
    with pytest.raises(targets.TargetRefused) as refused:
        targets.check(_address("1.1.1.1"), policy)
    assert refused.value.rule == "not-allowlisted"
    with pytest.raises(targets.TargetRefused):
        targets.check(_address("127.0.0.1"), policy)


@pytest.mark.parametrize(
    "raw", ["10.0.0.0/8", "169.254.169.254/32", "0.0.0.0/0", "9.9.9.9/8", "nonsense"]
)
def test_allowlist_refuses_internal_or_malformed_networks(raw: str) -> None:
    with pytest.raises(ValueError, match=r".+"):
        targets.parse_allowlist(raw)
    with pytest.raises(ConfigError, match="WEBAPP_PING_ALLOW"):
        create_app({"PING_ALLOW": raw, "AUDIT_ENABLED": False})


# --- over HTTP, with stubbed DNS and ping ------------------------------------------------


@pytest.fixture
def stub_ping(tmp_path: Path) -> tuple[str, Path]:
    """A ping that records its argv and answers like iputils, sending nothing."""
    calls = tmp_path / "calls"
    script = tmp_path / "ping"
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> "{calls}"\n'
        "for last; do :; done\n"
        'echo "64 bytes from $last: icmp_seq=1 ttl=64 time=1.25 ms"\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return str(script), calls


def _calls(calls: Path) -> list[str]:
    return calls.read_text(encoding="utf-8").splitlines() if calls.exists() else []


def _fake_dns(
    monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]], delay: float = 0.0
) -> list[str]:
    """Replace getaddrinfo with a table; unknown names fail like a real lookup."""
    asked: list[str] = []

    def getaddrinfo(host: str, *_: Any, **__: Any) -> list[tuple[Any, ...]]:
        asked.append(host)
        time.sleep(delay)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_DGRAM, 17, "", (a, 0)) for a in table[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.fixture
def make_client(db_down_config: dict[str, Any], stub_ping: tuple[str, Path]) -> Callable[..., Any]:
    def build(**config: Any) -> Any:
        app = create_app({**db_down_config, "PING_BINARY": stub_ping[0], **config})
        return app.test_client()

    return build


@pytest.mark.parametrize(("address", "rule"), INTERNAL_UNICAST)
def test_http_internal_addresses_get_403_and_no_ping(
    make_client: Callable[..., Any], stub_ping: tuple[str, Path], address: str, rule: str
) -> None:
    response = get(make_client(), "/ping", ip=address)
    assert response.status_code == 403
    assert response.get_json() == {"error": response.get_json()["error"], "rule": rule}
    assert _calls(stub_ping[1]) == []


@pytest.mark.parametrize(
    ("name", "addresses", "rule"),
    [
        ("localhost", ["127.0.0.1"], "not-global"),
        ("db", ["172.30.81.2"], "not-global"),
        ("metadata.example", ["169.254.169.254"], "metadata"),
        # one internal address among global ones refuses the name
        ("mixed.example", [GLOBAL_V4, "10.0.0.7"], "not-global"),
    ],
)
def test_http_names_resolving_inside_get_403_and_no_ping(
    make_client: Callable[..., Any],
    stub_ping: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    addresses: list[str],
    rule: str,
) -> None:
    asked = _fake_dns(monkeypatch, {name: addresses})
    response = get(make_client(), "/ping", ip=name)
    assert response.status_code == 403
    assert response.get_json()["rule"] == rule
    assert asked == [name]
    assert _calls(stub_ping[1]) == []


def test_http_allowed_name_pings_the_checked_address_not_the_name(
    make_client: Callable[..., Any], stub_ping: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_dns(monkeypatch, {"dns.example": [GLOBAL_V4]})
    response = get(make_client(), "/ping", ip="dns.example")
    assert response.status_code == 200
    assert response.get_json() == {
        "target": "dns.example",
        "address": GLOBAL_V4,
        "reachable": True,
        "rtt_ms": 1.25,
    }
    assert _calls(stub_ping[1]) == [f"-n -c 1 -W 2 -4 -- {GLOBAL_V4}"]


@pytest.mark.parametrize("address", [GLOBAL_V4, GLOBAL_V6])
def test_http_allowed_address_is_pinged(
    make_client: Callable[..., Any], stub_ping: tuple[str, Path], address: str
) -> None:
    response = get(make_client(), "/ping", ip=address)
    assert response.status_code == 200
    assert response.get_json()["reachable"] is True
    assert _calls(stub_ping[1])[-1].endswith(f"-- {address}")


def test_http_allowlist_from_the_operator(
    make_client: Callable[..., Any], stub_ping: tuple[str, Path]
) -> None:
    client = make_client(PING_ALLOW="9.9.9.0/24")
    assert get(client, "/ping", ip=GLOBAL_V4).status_code == 200
    refused = get(client, "/ping", ip="1.1.1.1")
    assert refused.status_code == 403
    assert refused.get_json()["rule"] == "not-allowlisted"
    assert len(_calls(stub_ping[1])) == 1


def test_http_unknown_name_is_unreachable_without_ping(
    make_client: Callable[..., Any], stub_ping: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_dns(monkeypatch, {})
    response = get(make_client(), "/ping", ip="nonexistent.invalid")
    assert response.status_code == 200
    assert response.get_json() == {
        "target": "nonexistent.invalid",
        "address": None,
        "reachable": False,
        "rtt_ms": None,
    }
    assert _calls(stub_ping[1]) == []


def test_http_hung_dns_is_bounded_by_its_timeout(
    make_client: Callable[..., Any], stub_ping: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_dns(monkeypatch, {"slow.example": [GLOBAL_V4]}, delay=3.0)
    started = time.monotonic()
    response = get(make_client(DNS_TIMEOUT_SECONDS=0.2), "/ping", ip="slow.example")
    assert time.monotonic() - started < 2.5
    assert response.get_json()["reachable"] is False
    assert _calls(stub_ping[1]) == []


def test_http_full_ping_slots_answer_503_with_retry_after(
    make_client: Callable[..., Any], stub_ping: tuple[str, Path]
) -> None:
    client = make_client(PING_CONCURRENCY=1)
    slots = client.application.extensions["dockhard.ping_slots"]
    with slots.hold():  # another request's ping in progress
        response = get(client, "/ping", ip=GLOBAL_V4)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert response.get_json() == {"error": "too many pings at once, retry later"}
        # Other endpoints are not affected.
        assert get(client, "/calculate", expr="2+3").status_code == 200
    assert get(client, "/ping", ip=GLOBAL_V4).status_code == 200
    assert len(_calls(stub_ping[1])) == 1


def test_ping_output_is_not_logged(
    db_down_config: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = "hostile-marker-in-ping-stderr"
    script = tmp_path / "ping"
    script.write_text(f"#!/bin/sh\necho {marker} >&2\nexit 2\n", encoding="utf-8")
    script.chmod(0o755)
    app = create_app({**db_down_config, "PING_BINARY": str(script)})
    with caplog.at_level(logging.DEBUG):
        response = get(app.test_client(), "/ping", ip=GLOBAL_V4)
    assert response.get_json()["reachable"] is False
    assert "ping exited with 2" in caplog.text
    assert marker not in caplog.text


def test_parser_warnings_never_reach_stderr() -> None:
    """Input that makes Python's parser warn (and quote it) leaves stderr empty."""
    app_dir = Path(__file__).resolve().parents[3] / "files" / "app"
    code = (
        "from webapp.calculator import evaluate, CalculationError\n"
        "for expr in ['\"\\\\dMARK\"', \"'\\\\qMARK'\", '1(2)', '1 is 1', '0x1for 2']:\n"
        "    try:\n"
        "        evaluate(expr)\n"
        "    except CalculationError:\n"
        "        pass\n"
    )
    run = subprocess.run(
        [sys.executable, "-W", "always", "-c", code],
        cwd=app_dir,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
