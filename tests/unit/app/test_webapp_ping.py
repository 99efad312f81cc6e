"""/ping: target validation, argv construction, the real iputils ping, and hostile input."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from webapp import create_app, pinger
from webapp.validation import PingTarget, ValidationError, is_hostname, parse_ping_target
from webapp_testing import GLOBAL_V4, MISSING_PING, find_ping, get, get_raw

HOSTILE_TARGETS = [
    # shell metacharacters and command substitution
    "127.0.0.1; id",
    "127.0.0.1;id",
    "127.0.0.1 | id",
    "127.0.0.1|id",
    "127.0.0.1 && id",
    "127.0.0.1&&id",
    "127.0.0.1 || id",
    "127.0.0.1 & id",
    "$(id)",
    "127.0.0.1$(id)",
    "`id`",
    "127.0.0.1`id`",
    "${IFS}id",
    "127.0.0.1\nid",
    "127.0.0.1\rid",
    "127.0.0.1\n",
    "127.0.0.1\x00id",
    "127.0.0.1 > /tmp/x",
    "127.0.0.1 < /etc/passwd",
    "'127.0.0.1'",
    '"127.0.0.1"',
    "127.0.0.1 #",
    "localhost/../../etc/passwd",
    "*",
    "~root",
    # option injection
    "-f",
    "-c 100000",
    "-c100000",
    "--help",
    "-",
    "--",
    "-i 0.001 127.0.0.1",
    "-s 65000 127.0.0.1",
    " -f",
    # spaces, empty labels, bad labels
    " 127.0.0.1",
    "127.0.0.1 ",
    "local host",
    "example..com",
    ".example.com",
    "example.com.",
    "-example.com",
    "example-.com",
    "exa_mple.com",
    "a" * 64 + ".com",
    ".".join(["a" * 63] * 4) + ".com",
    # numeric forms that resolvers turn into IPv4 addresses, invalid addresses
    "2130706433",
    "0x7f000001",
    "0x7f.1",
    "127.1",
    "1.2.3.999",
    "256.256.256.256",
    "01.02.03.04",
    "127.0.0.1/8",
    "::1/128",
    "fe80::1%eth0",
    "fe80::1%;id",
    # not worth pinging
    "0.0.0.0",  # noqa: S104 - a refused input, not a bind address
    "::",
    "255.255.255.255",
    "224.0.0.1",
    "ff02::1",
    # unicode look-alikes
    "\uff11\uff12\uff17.0.0.1",  # fullwidth digits
    "127\u30020\u30020\u30021",  # ideographic full stops
    "127\uff0e0\uff0e0\uff0e1",  # fullwidth full stops
    "loc\u0430lhost",  # Cyrillic a
    "localhost\u200b",  # zero-width space
    "\u0661\u0662\u0667.0.0.1",  # Arabic-Indic digits
    "xn--80ak6aa92e.com\u00ad",  # soft hyphen
]


@pytest.mark.parametrize("raw", HOSTILE_TARGETS)
def test_hostile_targets_are_invalid(raw: str) -> None:
    with pytest.raises(ValidationError):
        parse_ping_target(raw)


@pytest.mark.parametrize(
    ("raw", "value", "family"),
    [
        ("127.0.0.1", "127.0.0.1", 4),
        ("10.0.0.1", "10.0.0.1", 4),
        ("::1", "::1", 6),
        ("2001:DB8:0:0::1", "2001:db8::1", 6),
        ("localhost", "localhost", None),
        ("db", "db", None),
        ("Example.COM", "example.com", None),
        ("a-b.example.com", "a-b.example.com", None),
        ("1e100.net", "1e100.net", None),
        ("xn--80ak6aa92e.com", "xn--80ak6aa92e.com", None),
        (".".join(["a" * 63] * 3) + ".com", ".".join(["a" * 63] * 3) + ".com", None),
    ],
)
def test_valid_targets(raw: str, value: str, family: int | None) -> None:
    assert parse_ping_target(raw) == PingTarget(value=value, family=family)


def test_hostname_length_limit() -> None:
    name = ".".join(["a" * 61] * 4) + ".com"  # 4*62 + 3 = 251
    assert len(name) <= 253
    assert is_hostname(name)
    assert not is_hostname("a" + name + "aaa")
    assert not is_hostname("")


def test_argv_ends_options_before_the_target() -> None:
    assert pinger.build_argv("/usr/bin/ping", PingTarget("127.0.0.1", 4), 2) == [
        "/usr/bin/ping",
        "-n",
        "-c",
        "1",
        "-W",
        "2",
        "-4",
        "--",
        "127.0.0.1",
    ]
    assert pinger.build_argv("/usr/bin/ping", PingTarget("::1", 6), 3)[-4:] == [
        "3",
        "-6",
        "--",
        "::1",
    ]
    argv = pinger.build_argv("/usr/bin/ping", PingTarget("localhost", None), 2)
    assert argv[-2:] == ["--", "localhost"]
    assert "-4" not in argv
    assert "-6" not in argv


def test_argv_keeps_a_target_as_one_argument() -> None:
    # Even a value that validation would refuse stays one argument after "--".
    argv = pinger.build_argv("/usr/bin/ping", PingTarget("-f; id", None), 2)
    assert argv[-2:] == ["--", "-f; id"]


def test_parse_rtt() -> None:
    output = (
        b"PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.\n"
        b"64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms\n\n"
        b"--- 127.0.0.1 ping statistics ---\n"
        b"1 packets transmitted, 1 received, 0% packet loss, time 0ms\n"
        b"rtt min/avg/max/mdev = 0.045/0.045/0.045/0.000 ms\n"
    )
    assert pinger.parse_rtt(output) == 0.045
    assert pinger.parse_rtt(b"1 packets transmitted, 0 received, 100% packet loss") is None
    assert pinger.parse_rtt(b"") is None


def test_missing_binary_is_unavailable() -> None:
    with pytest.raises(pinger.PingUnavailable):
        pinger.ping(MISSING_PING, PingTarget("127.0.0.1", 4))
    with pytest.raises(pinger.PingUnavailable):
        pinger.ping("ping", PingTarget("127.0.0.1", 4))  # relative paths are refused


def test_non_executable_binary_is_unavailable(tmp_path: Path) -> None:
    fake = tmp_path / "ping"
    fake.write_text("not a program\n", encoding="utf-8")
    fake.chmod(0o644)
    with pytest.raises(pinger.PingUnavailable):
        pinger.ping(str(fake), PingTarget("127.0.0.1", 4))


def test_child_output_is_capped_and_child_killed() -> None:
    # `yes` writes forever: the reader stops at the cap and kills it.
    returncode, stdout, stderr = pinger._run(["/usr/bin/yes"], timeout=10)
    assert returncode is None
    assert len(stdout) == pinger.MAX_OUTPUT_BYTES
    assert stderr == b""


def test_child_is_killed_at_the_timeout() -> None:
    returncode, stdout, _ = pinger._run(["/bin/sleep", "30"], timeout=0.2)
    assert returncode is None
    assert stdout == b""


def test_child_gets_a_minimal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", "must-not-leak")
    returncode, stdout, _ = pinger._run(["/usr/bin/env"], timeout=5)
    assert returncode == 0
    assert b"must-not-leak" not in stdout
    assert set(stdout.decode().split()) == {f"{k}={v}" for k, v in pinger._CHILD_ENV.items()}


# --- over HTTP ------------------------------------------------------------------------


@pytest.mark.parametrize("raw", HOSTILE_TARGETS)
def test_http_hostile_targets_get_400_json(client: FlaskClient, raw: str) -> None:
    # The configured ping binary does not exist: a 400 (not 503) proves that the
    # input was refused before anything was executed.
    response = get(client, "/ping", ip=raw)
    assert response.status_code == 400
    assert set(response.get_json()) == {"error"}


@pytest.mark.parametrize(
    "url",
    [
        "/ping?ip=127.0.0.1%3Bid",
        "/ping?ip=127.0.0.1%0aid",
        "/ping?ip=127.0.0.1%0Did",
        "/ping?ip=127.0.0.1%00",
        "/ping?ip=%24(id)",
        "/ping?ip=%60id%60",
        "/ping?ip=127.0.0.1%7Cid",
        "/ping?ip=127.0.0.1%26%26id",
        "/ping?ip=-c+100000+127.0.0.1",
        "/ping?ip=-f",
        "/ping?ip=--help",
        "/ping?ip=127.0.0.1&ip=-f",
        "/ping?ip=%ff%fe",
        "/ping?ip=",
        "/ping",
        "/ping?ip=" + "a" * 254,
        "/ping?ip=" + "a" * 1025,
    ],
)
def test_http_raw_hostile_queries_get_400(client: FlaskClient, url: str) -> None:
    response = get_raw(client, url)
    assert response.status_code == 400
    assert set(response.get_json()) == {"error"}


def test_http_missing_binary_is_503(client: FlaskClient) -> None:
    # A global address passes the policy; the binary is missing, so nothing is sent.
    response = get(client, "/ping", ip=GLOBAL_V4)
    assert response.status_code == 503
    assert response.get_json() == {"error": "ping is not available"}


REAL_PING = find_ping()
needs_ping = pytest.mark.skipif(REAL_PING is None, reason="iputils ping not installed")


@needs_ping
@pytest.mark.parametrize("target", ["127.0.0.1", "::1"])
def test_real_ping_loopback(target: str) -> None:
    """The pinger itself (below the target policy, which refuses loopback) works."""
    assert REAL_PING is not None
    family = 6 if ":" in target else 4
    result = pinger.ping(REAL_PING, PingTarget(target, family), 1)
    assert result.target == target
    if not result.reachable:
        pytest.skip("ping cannot send ICMP here (no CAP_NET_RAW, ping_group_range)")
    assert isinstance(result.rtt_ms, float)
    assert result.rtt_ms >= 0


@needs_ping
@pytest.mark.parametrize("target", ["127.0.0.1", "localhost", "::1"])
def test_http_loopback_refused_before_ping(db_down_config: dict[str, object], target: str) -> None:
    app = create_app({**db_down_config, "PING_BINARY": REAL_PING})
    response = get(app.test_client(), "/ping", ip=target)
    assert response.status_code == 403
    assert response.get_json()["rule"] == "not-global"


@needs_ping
def test_real_ping_accepts_the_argv() -> None:
    assert REAL_PING is not None
    argv = pinger.build_argv(REAL_PING, PingTarget("127.0.0.1", 4), 1)
    completed = subprocess.run(argv, capture_output=True, timeout=10, check=False)
    # 0: reply, 1: no reply; 2 would be a usage error (an option it does not know).
    assert completed.returncode in (0, 1), completed.stderr
    assert b"usage" not in completed.stderr.lower()


@needs_ping
def test_real_ping_treats_a_dash_target_as_a_host_not_an_option() -> None:
    assert REAL_PING is not None
    argv = pinger.build_argv(REAL_PING, PingTarget("-f", None), 1)
    completed = subprocess.run(argv, capture_output=True, timeout=10, check=False)
    assert completed.returncode == 2
    assert b"usage" not in completed.stderr.lower()
    assert b"-f" in completed.stderr  # "ping: -f: Name or service not known"
