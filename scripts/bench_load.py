"""Small HTTP load generator for scripts/bench.py, standard library only.

It is copied into a host container and run there with the host's python3, so
the hardened stack (nginx on 127.0.0.1:15000) and the original app are driven
by the same code from the same place. Every run is bounded twice: by time
(--duration) and by request count (--requests). Each worker thread keeps one
HTTP/1.1 connection open and opens a new one when the server closes it.

Requests are sent and answers read on plain sockets: http.client parses every
header through the email package, and at a few thousand requests per second
that made the generator use more CPU than the servers it measured (on the
same cores), which penalised the faster server most.

Prints one JSON object: counts per status, errors, elapsed seconds, requests
per second (all answers and 2xx only) and latency percentiles in ms.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from collections import Counter
from urllib.parse import unquote, urlsplit


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of values (0 < fraction <= 1); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil without importing math
    return ordered[int(rank) - 1]


class Shared:
    """State the workers share: the request budget and the results."""

    def __init__(self, budget: int, deadline: float) -> None:
        self.lock = threading.Lock()
        self.budget = budget
        self.deadline = deadline
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    def take(self) -> bool:
        """Claim one request of the budget, unless time or budget ran out."""
        with self.lock:
            if self.budget <= 0 or time.monotonic() >= self.deadline:
                return False
            self.budget -= 1
            return True


class Connection:
    """One HTTP/1.1 connection: send a prepared GET, read the answer's status and
    skip its body (Content-Length, chunked, or until the server closes)."""

    def __init__(self, address: tuple[str, int] | str, timeout: float) -> None:
        if isinstance(address, str):  # a unix socket path
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(address)
        else:
            self.sock = socket.create_connection(address, timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        self.buffer += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def _skip(self, length: int) -> None:
        while len(self.buffer) < length:
            self._fill()
        self.buffer = self.buffer[length:]

    def get(self, request: bytes) -> tuple[int, bool]:
        """Status of the answer, and whether the server closes the connection."""
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.split(b"\r\n")
        version, status = status_line.split(b" ", 2)[:2]
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        connection = headers.get(b"connection", b"")
        close = connection == b"close" or (version == b"HTTP/1.0" and connection != b"keep-alive")
        if b"content-length" in headers:
            self._skip(int(headers[b"content-length"]))
        elif headers.get(b"transfer-encoding") == b"chunked":
            while size := int(self._line().split(b";")[0], 16):
                self._skip(size + 2)
            while self._line():  # trailer fields, up to the empty line
                pass
        else:  # the body ends when the server closes the connection
            try:
                while True:
                    self._fill()
            except ConnectionError:
                pass
            close = True
        return int(status), close


def worker(
    address: tuple[str, int] | str, host: str, target: str, timeout: float, shared: Shared
) -> None:
    request = f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    conn: Connection | None = None
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    while shared.take():
        start = time.perf_counter()
        try:
            if conn is None:
                conn = Connection(address, timeout)
            status, close = conn.get(request)
        except (OSError, ValueError) as exc:
            errors[type(exc).__name__] += 1
            if conn is not None:
                conn.close()
            conn = None
            continue
        latencies.append((time.perf_counter() - start) * 1000.0)
        statuses[str(status)] += 1
        if close:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()
    with shared.lock:
        shared.latencies.extend(latencies)
        shared.statuses.update(statuses)
        shared.errors.update(errors)


def run(url: str, concurrency: int, duration: float, requests: int, timeout: float) -> dict:
    parts = urlsplit(url)
    address: tuple[str, int] | str
    if parts.scheme == "http+unix" and parts.netloc:  # http+unix://%2Frun%2Fapp.sock/path
        address, host = unquote(parts.netloc), "localhost"
    elif parts.scheme == "http" and parts.hostname:
        address, host = (parts.hostname, parts.port or 80), parts.hostname
    else:
        raise ValueError(f"only http:// and http+unix:// URLs: {url}")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    start = time.monotonic()
    shared = Shared(requests, start + duration)
    threads = [
        threading.Thread(
            target=worker,
            args=(address, host, target, timeout, shared),
            daemon=True,
        )
        for _ in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        # A worker stops claiming requests at the deadline; one in flight ends
        # at the latest after its socket timeout.
        thread.join(duration + timeout + 5)
    elapsed = time.monotonic() - start
    answered = sum(shared.statuses.values())
    ok = sum(n for status, n in shared.statuses.items() if status.startswith("2"))
    return {
        "url": url,
        "concurrency": concurrency,
        "elapsed_s": round(elapsed, 3),
        "answered": answered,
        "ok": ok,
        "statuses": dict(sorted(shared.statuses.items())),
        "errors": dict(sorted(shared.errors.items())),
        "rps": round(answered / elapsed, 1) if elapsed > 0 else 0.0,
        "ok_rps": round(ok / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": percentile(shared.latencies, 0.50),
        "p99_ms": percentile(shared.latencies, 0.99),
        "max_ms": max(shared.latencies, default=None),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds, at most")
    parser.add_argument("--requests", type=int, default=20000, help="requests, at most")
    parser.add_argument("--timeout", type=float, default=10.0, help="socket timeout, seconds")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.requests < 1 or args.duration <= 0:
        parser.error("concurrency, requests and duration must be positive")
    result = run(args.url, args.concurrency, args.duration, args.requests, args.timeout)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
