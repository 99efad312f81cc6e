"""Run iputils ping on a validated target, as an argument vector and never through a shell."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import selectors
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from webapp.validation import PingTarget

LOG = logging.getLogger(__name__)

MAX_OUTPUT_BYTES = 4096
_RTT_RE = re.compile(rb"time[=<]([0-9]{1,7}(?:\.[0-9]{1,6})?) ?ms")
# A fixed, minimal environment: C locale so the output format is predictable.
_CHILD_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}


class PingUnavailable(RuntimeError):
    """The ping binary is missing or cannot be executed."""


class PingBusy(RuntimeError):
    """Every ping slot of this process is taken: try again later."""


class Slots:
    """At most ``size`` pings at once per process: a slow target cannot take every thread."""

    def __init__(self, size: int) -> None:
        self._semaphore = threading.BoundedSemaphore(size)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        if not self._semaphore.acquire(blocking=False):
            raise PingBusy("all ping slots are in use")
        try:
            yield
        finally:
            self._semaphore.release()


@dataclass(frozen=True)
class PingResult:
    target: str
    reachable: bool
    rtt_ms: float | None


def build_argv(binary: str, target: PingTarget, wait_seconds: int) -> list[str]:
    """Return the argv for one echo request; ``--`` ends option parsing before the target."""
    argv = [binary, "-n", "-c", "1", "-W", str(wait_seconds)]
    if target.family == 4:
        argv.append("-4")
    elif target.family == 6:
        argv.append("-6")
    argv += ["--", target.value]
    return argv


def parse_rtt(output: bytes) -> float | None:
    """Round-trip time in milliseconds from the first reply line, if any."""
    match = _RTT_RE.search(output[:MAX_OUTPUT_BYTES])
    if match is None:
        return None
    return round(float(match.group(1)), 3)


def ensure_available(binary: str) -> None:
    if not (os.path.isabs(binary) and os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise PingUnavailable(f"ping binary not available: {binary}")


def ping(binary: str, target: PingTarget, wait_seconds: int = 2) -> PingResult:
    """Send one echo request; an unreachable or unknown target is a result, not an error."""
    ensure_available(binary)
    argv = build_argv(binary, target, wait_seconds)
    returncode, stdout, _ = _run(argv, timeout=wait_seconds + 3)
    # The exit code only: ping's output names the target, which is user input.
    if returncode is None:
        LOG.info("ping killed after %s s", wait_seconds + 3)
    elif returncode not in (0, 1):
        LOG.info("ping exited with %s", returncode)
    reachable = returncode == 0
    rtt = parse_rtt(stdout) if reachable else None
    return PingResult(target=target.value, reachable=reachable, rtt_ms=rtt)


def _run(argv: list[str], timeout: float) -> tuple[int | None, bytes, bytes]:
    """Run argv without a shell; kill it on timeout or when it writes too much.

    Returns (returncode or None if it was killed, stdout, stderr), each output
    holding at most MAX_OUTPUT_BYTES.
    """
    try:
        proc = subprocess.Popen(  # noqa: S603 - argv list from validated input, no shell
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_CHILD_ENV,
            close_fds=True,
            shell=False,
        )
    except OSError as exc:
        raise PingUnavailable(f"cannot run ping: {type(exc).__name__}") from None
    with proc:
        deadline = time.monotonic() + timeout
        complete, stdout, stderr = _collect(proc, deadline)
        if complete:
            try:
                return proc.wait(timeout=max(deadline - time.monotonic(), 0.01)), stdout, stderr
            except subprocess.TimeoutExpired:
                pass
        proc.kill()
        proc.wait()
        return None, stdout, stderr


def _collect(proc: subprocess.Popen[bytes], deadline: float) -> tuple[bool, bytes, bytes]:
    """Read both pipes until EOF (True), or until the deadline or the size cap (False)."""
    if proc.stdout is None or proc.stderr is None:  # pragma: no cover - both are PIPEs
        return False, b"", b""
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    buffers = {out_fd: bytearray(), err_fd: bytearray()}
    complete = _drain(buffers, deadline)
    return complete, bytes(buffers[out_fd]), bytes(buffers[err_fd])


def _drain(buffers: dict[int, bytearray], deadline: float) -> bool:
    with selectors.DefaultSelector() as selector:
        for fd in buffers:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, 1024)
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                buffer = buffers[key.fd]
                buffer += chunk
                if len(buffer) > MAX_OUTPUT_BYTES:
                    del buffer[MAX_OUTPUT_BYTES:]
                    return False
    return True
