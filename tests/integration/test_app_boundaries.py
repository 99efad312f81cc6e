"""The deployed app's boundaries (issue 15): no internal ping targets, one way in
(nginx), JSON for every client error at any size, no user input in any log.

Traffic goes only to the host's loopback and to the app's own containers. /ping is
only given targets the policy refuses (loopback, the app's service names, the
metadata address): nothing leaves the host.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote

import pytest
from app_stack import PROXY_ACCESS_LOG, PROXY_PRELUDE, app_containers, fetch, psql
from conftest import run_ok

pytestmark = pytest.mark.usefixtures("app_deployed")

PROXY_ERROR_LOG = "/var/log/nginx/dockhard-error.log"
NGINX_LOGS = ("/var/log/nginx/error.log", "/var/log/nginx/access.log")
# A globally routable address: only ever pinged behind a REJECT rule (see below).
ALLOWED_TARGET = "9.9.9.9"
# Docker's embedded DNS listens in every container on a user-defined network.
DOCKER_DNS = "127.0.0.11"

INTERNAL_TARGETS = [
    ("127.0.0.1", "not-global"),
    ("127.0.0.2", "not-global"),
    ("::1", "not-global"),
    ("localhost", "not-global"),
    ("db", "not-global"),  # a compose service name
    ("web", "not-global"),
    ("10.0.0.1", "not-global"),
    ("172.30.81.1", "not-global"),
    ("100.64.0.1", "not-global"),
    ("fe80::1", "not-global"),
    ("169.254.169.254", "metadata"),
    ("::ffff:169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"),
]

# Runs on the host: one raw HTTP/1.1 request to the proxy's loopback listener, its status and body.
_RAW = (
    PROXY_PRELUDE
    + """
import http.client, json, sys
kind, size = sys.argv[1], int(sys.argv[2])
conn = http.client.HTTPConnection(*PROXY, timeout=20)
pad = sys.argv[3] * (size // len(sys.argv[3]) + 1)
if kind == "line":
    conn.request("GET", "/?name=" + pad[:size])
elif kind == "header":
    conn.request("GET", "/", headers={"X-Pad": pad[:size]})
elif kind == "headers":  # each header fits nginx's 4 KiB buffers, all of them not
    count = max(size // 4000, 5)
    conn.request("GET", "/", headers={f"X-Pad-{i}": pad[:4000] for i in range(count)})
else:
    conn.request("POST", "/?name=bob", body=pad[:size].encode())
r = conn.getresponse()
print(json.dumps({"status": r.status, "type": r.getheader("Content-Type"),
                  "body": r.read().decode("utf-8", "replace")}))
"""
)

# Runs on the host: the same request COUNT times in a row, the statuses.
_BURST = (
    PROXY_PRELUDE
    + """
import http.client, json, sys
statuses = []
for _ in range(int(sys.argv[2])):
    conn = http.client.HTTPConnection(*PROXY, timeout=20)
    conn.request("GET", sys.argv[1])
    statuses.append(conn.getresponse().status)
    conn.close()
print(json.dumps(statuses))
"""
)

# Runs on the host: TCP connects to every port of the given addresses; prints the
# ports that accepted. An address that drops (times out) instead of refusing is no
# path either: after 20 time-outs its scan stops, so the test stays bounded.
_SCAN = """
import json, socket, sys
opened = []
for address in sys.argv[1:]:
    timeouts = 0
    for port in range(1, 65536):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            try:
                if s.connect_ex((address, port)) == 0:
                    opened.append(f"{address}:{port}")
            except TimeoutError:
                timeouts += 1
            if timeouts > 20:
                break
print(json.dumps(opened))
"""


def _raw(host, kind: str, size: int, pad: str = "a") -> dict:
    return json.loads(run_ok(host, "python3", "-c", _RAW, kind, str(size), pad))


def _paced_ping(host, target: str) -> tuple[int, object]:
    """/ping through the proxy, waiting out its strict rate limit (429) if hit."""
    for _ in range(10):
        status, body, _ = fetch(host, "/ping?ip=" + quote(target, safe=""))
        if status != 429:
            return status, body
        time.sleep(1.0)
    return status, body


@pytest.mark.parametrize(("target", "rule"), INTERNAL_TARGETS)
def test_ping_internal_targets_refused_by_rule(host, target: str, rule: str) -> None:
    status, body = _paced_ping(host, target)
    assert status == 403, body
    assert isinstance(body, dict) and body["rule"] == rule


def test_ping_of_an_allowed_address_runs_ping_on_the_checked_address(host) -> None:
    """A global address passes the policy and ping runs; a REJECT rule in the web
    container's own network namespace (inserted first, checked, removed after)
    stops the echo request before it leaves: its counter proves ping sent one."""
    pid = str(app_containers(host)["web"]["State"]["Pid"])
    in_netns = ["nsenter", "--target", pid, "--net", "iptables"]
    rule = ["OUTPUT", "--destination", ALLOWED_TARGET, "--protocol", "icmp", "-j", "REJECT"]
    run_ok(host, *in_netns, "-I", *rule[:1], "1", *rule[1:])
    try:
        run_ok(host, *in_netns, "-C", *rule)
        status, body = _paced_ping(host, ALLOWED_TARGET)
        counters = run_ok(host, *in_netns, "-L", "OUTPUT", "-n", "-v", "-x")
    finally:
        run_ok(host, *in_netns, "-D", *rule)
    assert status == 200, body
    assert body == {
        "target": ALLOWED_TARGET,
        "address": ALLOWED_TARGET,
        "reachable": False,
        "rtt_ms": None,
    }
    rejected = [line.split() for line in counters.splitlines() if "REJECT" in line]
    assert rejected and int(rejected[0][0]) >= 1, counters


def _burst(host, path: str, count: int) -> list[int]:
    return json.loads(run_ok(host, "python3", "-c", _BURST, path, str(count)))


def test_ping_stricter_rate_limit_than_the_rest(host) -> None:
    # 12 at once: /ping's zone (2 r/s, burst 4) refuses some, the general zone
    # (20 r/s, burst 40) none.
    pings = _burst(host, "/ping?ip=127.0.0.1", 12)
    assert 429 in pings and 403 in pings, pings
    assert set(_burst(host, "/calculate?expr=1", 12)) == {200}
    time.sleep(3)  # let the /ping zone drain for the tests that follow


@pytest.mark.parametrize("size", [4096, 16384, 65536])
@pytest.mark.parametrize(
    ("kind", "status"), [("line", 414), ("header", 431), ("headers", 431), ("body", 413)]
)
def test_proxy_answers_oversized_requests_with_json(host, kind: str, status: int, size: int):
    answer = _raw(host, kind, size)
    assert answer["status"] == status, answer
    assert answer["type"].startswith("application/json")
    assert "error" in json.loads(answer["body"])


def _listening(host, pid: str) -> list[str]:
    """Local addresses of LISTEN TCP sockets in the network namespace of pid."""
    found = []
    for table in ("tcp", "tcp6"):
        lines = host.file(f"/proc/{pid}/net/{table}").content_string.splitlines()[1:]
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                found.append(_address(fields[1]))
    return found


def _address(hex_address: str) -> str:
    """/proc/net/tcp's little-endian hex address:port as text (IPv4; IPv6 stays hex)."""
    address, port = hex_address.split(":")
    if len(address) == 8:
        octets = [str(int(address[i : i + 2], 16)) for i in range(6, -1, -2)]
        return f"{'.'.join(octets)}:{int(port, 16)}"
    return f"{address}:{int(port, 16)}"


def test_web_container_listens_on_no_tcp_port(host) -> None:
    web = app_containers(host)["web"]
    listening = _listening(host, str(web["State"]["Pid"]))
    assert [a for a in listening if not a.startswith(DOCKER_DNS + ":")] == []


def test_no_direct_tcp_path_from_the_host_to_the_web_container(host) -> None:
    web = app_containers(host)["web"]
    addresses = [n["IPAddress"] for n in web["NetworkSettings"]["Networks"].values()]
    assert addresses and all(addresses)
    assert json.loads(run_ok(host, "python3", "-c", _SCAN, *addresses)) == []
    # ...while the app answers through nginx.
    assert fetch(host, "/calculate?expr=2%2B3")[:2] == (200, {"expr": "2+3", "result": 5})


def test_socket_directory_admits_nginx_only(host) -> None:
    web = app_containers(host)["web"]
    mounts = [m for m in web["Mounts"] if m["Destination"] == "/run/webapp"]
    assert len(mounts) == 1, web["Mounts"]
    directory = host.file(mounts[0]["Source"])
    assert directory.is_directory
    assert directory.mode == 0o750
    assert directory.group == "www-data"
    assert host.file(mounts[0]["Source"] + "/app.sock").is_socket
    # Any other user cannot even reach the socket.
    assert host.run(f"runuser -u nobody -- test -x {mounts[0]['Source']}").rc == 1


def test_forged_forwarded_for_is_not_trusted(host) -> None:
    containers = app_containers(host)
    path = f"/xff{time.time_ns()}"
    forged = "203.0.113.77"
    argv = ["python3", "-c", _FORGED, path, forged]
    assert run_ok(host, *argv).strip() == "404"
    sql = f"SELECT host(client) FROM request_audit WHERE endpoint = '{path}'"  # noqa: S608 - own digits
    rows = ""
    deadline = time.monotonic() + 10
    while not rows and time.monotonic() < deadline:
        time.sleep(0.5)
        rows = psql(host, containers["db"]["Id"], sql)
    assert rows == "127.0.0.1"


_FORGED = (
    PROXY_PRELUDE
    + """
import http.client, sys
conn = http.client.HTTPConnection(*PROXY, timeout=20)
conn.request("GET", sys.argv[1], headers={"X-Forwarded-For": sys.argv[2]})
print(conn.getresponse().status)
"""
)


# Runs on the host: GET PATH from the given local source address.
_FROM = (
    PROXY_PRELUDE
    + """
import http.client, json, sys
conn = http.client.HTTPConnection(*PROXY, timeout=20, source_address=(sys.argv[1], 0))
conn.request("GET", sys.argv[2])
r = conn.getresponse()
print(json.dumps({"status": r.status, "body": r.read().decode()}))
"""
)


def test_healthz_is_denied_to_any_other_client_address(host) -> None:
    # 127.0.0.2 is another client address that reaches the proxy's listener.
    other = json.loads(run_ok(host, "python3", "-c", _FROM, "127.0.0.2", "/healthz"))
    assert other["status"] == 403
    assert json.loads(other["body"]) == {"error": "forbidden"}
    own = json.loads(run_ok(host, "python3", "-c", _FROM, "127.0.0.1", "/healthz"))
    assert own["status"] == 200
    # The rest of the app stays open to that client.
    calc = json.loads(run_ok(host, "python3", "-c", _FROM, "127.0.0.2", "/calculate?expr=1"))
    assert calc["status"] == 200


def test_container_healthcheck_reports_healthy(host) -> None:
    web = app_containers(host)["web"]
    assert web["State"]["Health"]["Status"] == "healthy"


def _every_log(host, containers) -> str:
    files = [PROXY_ACCESS_LOG, PROXY_ERROR_LOG, *NGINX_LOGS]
    text = "".join(host.file(f).content_string for f in files if host.file(f).exists)
    for c in containers.values():
        text += run_ok(host, "sh", "-c", f"docker logs {c['Id']} 2>&1")
    return text


def test_no_user_input_in_any_log_after_a_hostile_run(host) -> None:
    containers = app_containers(host)
    marker = f"hostile{time.time_ns()}"
    queries = [
        f"/?name={marker}%3Cscript%3E",
        f"/calculate?expr=%27%5C{marker}%27",  # an escape sequence: a parser warning
        f"/calculate?expr=%22%5Cd{marker}%22%2B1",
        f"/calculate?expr={marker}()",
        f"/ping?ip={marker};id",
        f"/ping?ip=-{marker}",
        f"/nosuchpage?{marker}=1",
        "/?name=bob&pad=" + marker * 200,  # the app's own 414
    ]
    for query in queries:
        status, _, _ = fetch(host, query)
        assert 400 <= status < 500, (query, status)
    for kind, size in [("line", 8192), ("header", 8192), ("body", 4096)]:
        assert 400 <= _raw(host, kind, size, marker)["status"] < 500
    time.sleep(2)  # nginx flushes its access log every second
    logs = _every_log(host, containers)
    assert '"GET /nosuchpage HTTP/1.1" 404' in logs  # the logs were read, and flushed
    assert marker not in logs


def _poll(check, seconds: float, every: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return False


def test_health_fails_while_the_audit_trail_is_down_and_recovers(host) -> None:
    """Issue 14: with the database stopped the app still serves, /healthz is
    "degraded" during the 60 s grace and then 503 "failing", and the container's
    HEALTHCHECK script fails (so `docker ps` turns it unhealthy); with the
    database back, all is ok again. Slow (~2-3 min): the grace is real."""
    containers = app_containers(host)
    db, web = containers["db"]["Id"], containers["web"]["Id"]
    probe = f"docker exec {web} python3 /app/healthcheck.py"
    run_ok(host, "docker", "stop", db)
    try:
        assert fetch(host, "/?name=bob")[0] == 200  # served; its audit row cannot be written
        status, body, _ = fetch(host, "/healthz")
        assert (status, body["status"]) == (200, "degraded"), body
        # Two workers, each with its own view: poll until both have passed the grace.
        assert _poll(lambda: host.run(probe).rc == 1, 180), "the HEALTHCHECK never failed"
        assert _poll(lambda: fetch(host, "/healthz")[0] == 503, 90)
        assert fetch(host, "/healthz")[1] in (
            {"status": "failing", "db": "unavailable"},
            {"status": "degraded", "db": "unavailable"},
        )
        assert fetch(host, "/calculate?expr=2%2B3")[0] == 200
    finally:
        run_ok(host, "docker", "start", db)
    # Reconnection backs off up to 30 s per worker: wait until every answer is
    # ok (8 in a row reach both workers), so the tests after this one find
    # the audit trail up again.
    ok = {"status": "ok", "db": "ok"}
    assert _poll(lambda: all(fetch(host, "/healthz")[1] == ok for _ in range(8)), 120)
    assert _poll(lambda: host.run(probe).rc == 0, 60)
