"""The production server (gunicorn with gunicorn.conf.py) and the HEALTHCHECK script."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import healthcheck
import pytest
from webapp import create_app
from webapp_testing import CLOSED_PORT, GLOBAL_V4, free_port
from werkzeug.serving import make_server

APP_DIR = Path(__file__).resolve().parents[3] / "files" / "app"
QUERY_MARKER = "querymarker0123"


@dataclass
class Server:
    socket_path: Path
    process: subprocess.Popen[str]
    log_path: Path

    def request(self, target: str) -> tuple[int, bytes]:
        connection = healthcheck.UnixHTTPConnection(str(self.socket_path), timeout=10)
        try:
            connection.request("GET", target)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def raw(self, data: bytes) -> bytes:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(self.socket_path))
            sock.sendall(data)
            return sock.recv(65536)


def _start_gunicorn(workdir: Path, **extra_env: str) -> Iterator[Server]:
    socket_path = workdir / "app.sock"
    log_path = workdir / "gunicorn.log"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "WEBAPP_BIND": f"unix:{socket_path}",
        "WEBAPP_WORKERS": "1",
        "WEBAPP_ACCESS_LOG": "-",
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(CLOSED_PORT),
        "DB_PASSWORD_FILE": str(workdir / "no-such-secret"),
        **extra_env,
    }
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(APP_DIR / "gunicorn.conf.py")],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = Server(socket_path, process, log_path)
    try:
        _wait_until_ready(server)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def gunicorn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _start_gunicorn(tmp_path_factory.mktemp("gunicorn"))


@pytest.fixture(scope="module")
def silent_ping_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn (1 worker, 4 threads) whose ping never answers: a stub that sleeps,
    so no packet is sent. The app kills it after its 5 s timeout."""
    workdir = tmp_path_factory.mktemp("silent-ping")
    stub = workdir / "ping"
    stub.write_text("#!/bin/sh\nexec sleep 60\n", encoding="utf-8")
    stub.chmod(0o755)
    yield from _start_gunicorn(
        workdir, WEBAPP_THREADS="4", WEBAPP_PING_BINARY=str(stub), WEBAPP_PING_CONCURRENCY="2"
    )


def _wait_until_ready(server: Server) -> None:
    for _ in range(300):
        if server.process.poll() is not None:
            pytest.fail("gunicorn exited: " + server.log_path.read_text(errors="replace"))
        if server.socket_path.exists():
            try:
                server.request("/healthz")
                return
            except OSError:
                pass
        time.sleep(0.1)
    pytest.fail("gunicorn did not start: " + server.log_path.read_text(errors="replace"))


def test_gunicorn_serves_the_app(gunicorn_server: Server) -> None:
    status, body = gunicorn_server.request("/calculate?expr=2%2B3")
    assert status == 200
    assert body == b'{"expr":"2+3","result":5}\n'
    status, body = gunicorn_server.request("/calculate?expr=__import__('os')")
    assert status == 400
    assert b"function calls are not allowed" in body


def test_gunicorn_access_log_has_no_query_strings(gunicorn_server: Server) -> None:
    status, _ = gunicorn_server.request(f"/?name=bob&token={QUERY_MARKER}")
    assert status == 200
    log = ""
    for _ in range(50):
        log = gunicorn_server.log_path.read_text(errors="replace")
        if '"GET / HTTP/1.1" 200' in log:
            break
        time.sleep(0.1)
    assert '"GET / HTTP/1.1" 200' in log
    assert QUERY_MARKER not in log
    assert "name=bob" not in log


def test_gunicorn_limits_the_request_line(gunicorn_server: Server) -> None:
    request = b"GET /?name=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    reply = gunicorn_server.raw(request)
    assert reply.split(b" ", 2)[1] in (b"400", b"414")  # refused by gunicorn, not the app


def test_gunicorn_app_limit_answers_json_414(gunicorn_server: Server) -> None:
    status, body = gunicorn_server.request("/?name=bob&pad=" + "a" * 3000)
    assert status == 414
    assert body == b'{"error":"query string too long"}\n'


def test_slow_pings_cannot_starve_the_other_endpoints(silent_ping_server: Server) -> None:
    """8 pings of a target that never answers, at once, against 4 server threads:
    2 hold a ping slot, the rest get 503 at once; /calculate and /healthz answer."""
    pings: list[int] = []

    def slow_ping() -> None:
        pings.append(silent_ping_server.request(f"/ping?ip={GLOBAL_V4}")[0])

    threads = [threading.Thread(target=slow_ping) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # the slow pings are in flight now (they take 5 s)
    assert any(thread.is_alive() for thread in threads)
    for _ in range(3):
        assert silent_ping_server.request("/calculate?expr=2%2B3")[0] == 200
        assert silent_ping_server.request("/healthz")[0] == 200
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(pings) == [200, 200] + [503] * 6


def test_healthcheck_over_the_unix_socket(gunicorn_server: Server) -> None:
    assert healthcheck.main([f"unix:{gunicorn_server.socket_path}"]) == 0
    script = subprocess.run(
        [sys.executable, str(APP_DIR / "healthcheck.py")],
        env={"WEBAPP_BIND": f"unix:{gunicorn_server.socket_path}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert script.returncode == 0, script.stderr
    assert '"status":"degraded"' in script.stdout  # the database is down in this test


@pytest.fixture
def tcp_server() -> Iterator[str]:
    app = create_app({"DB_HOST": "127.0.0.1", "DB_PORT": CLOSED_PORT, "AUDIT_ENABLED": False})
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/healthz"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_healthcheck_over_tcp(tcp_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # must be ignored
    assert healthcheck.main([tcp_server]) == 0


def test_healthcheck_fails_when_nothing_listens() -> None:
    assert healthcheck.main([f"http://127.0.0.1:{free_port()}/healthz"]) == 1
    assert healthcheck.main(["unix:/nonexistent/app.sock"]) == 1
    assert healthcheck.main(["ftp://127.0.0.1/"]) == 1


def test_healthcheck_judges_the_answer() -> None:
    assert healthcheck.is_healthy(200, b'{"status":"ok","db":"ok"}')
    assert healthcheck.is_healthy(200, b'{"status":"degraded","db":"unavailable"}')
    assert not healthcheck.is_healthy(200, b'{"status":"broken"}')
    assert not healthcheck.is_healthy(200, b"not json")
    assert not healthcheck.is_healthy(200, b"[]")
    assert not healthcheck.is_healthy(503, b'{"status":"ok"}')


@pytest.mark.parametrize(
    ("environ", "target"),
    [
        ({}, "http://127.0.0.1:8000/healthz"),
        ({"WEBAPP_BIND": "0.0.0.0:8000"}, "http://127.0.0.1:8000/healthz"),
        ({"WEBAPP_BIND": "[::]:8080"}, "http://127.0.0.1:8080/healthz"),
        ({"WEBAPP_BIND": "10.0.0.2:9000"}, "http://10.0.0.2:9000/healthz"),
        ({"WEBAPP_BIND": "unix:/run/webapp/app.sock"}, "unix:/run/webapp/app.sock"),
        ({"HEALTHCHECK_URL": "http://127.0.0.1:1/healthz"}, "http://127.0.0.1:1/healthz"),
    ],
)
def test_healthcheck_target(environ: dict[str, str], target: str) -> None:
    assert healthcheck.target_from_env(environ) == target


def test_healthcheck_connection_class_is_http(tmp_path: Path) -> None:
    connection = healthcheck.UnixHTTPConnection(str(tmp_path / "none.sock"), timeout=1)
    assert isinstance(connection, http.client.HTTPConnection)
    with pytest.raises(OSError):
        connection.connect()
