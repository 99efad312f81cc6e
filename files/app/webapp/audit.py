"""Audit trail of requests in PostgreSQL, written through a least-privilege role.

Request threads only queue a row; one writer thread per process inserts the queued
rows in batches, one transaction per batch. So a request never waits for the
database, and a commit (a WAL flush) covers many rows instead of one. The queue is
bounded: when the database cannot keep up, rows beyond it are dropped and counted
in the log, never held in memory without limit. Queued rows are written before the
process exits (atexit, which gunicorn workers run on a graceful stop).

The database is optional for serving: when it is down, requests are still served,
the failure is logged (without secrets) and reconnection is retried with an
exponential backoff, so at most one request per backoff window waits for a
connection attempt (bounded by the connect timeout).

The password is read from a file (a Docker secret) at each connection attempt and
passed to libpq as a keyword argument: it is never put in a DSN, the environment
or a log line.
"""

from __future__ import annotations

import atexit
import ipaddress
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg

LOG = logging.getLogger(__name__)

BACKOFF_INITIAL_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
_BACKOFF_MAX_DOUBLINGS = 5
LOCK_WAIT_SECONDS = 2.5
MAX_SECRET_BYTES = 1024
MAX_ENDPOINT_LENGTH = 256
QUEUE_MAX_ROWS = 10_000
BATCH_MAX_ROWS = 500
FLUSH_WAIT_SECONDS = 5.0

INSERT_SQL = (
    "INSERT INTO request_audit (method, endpoint, client, status, duration_ms) "
    "VALUES (%s, %s, %s, %s, %s)"
)


@dataclass(frozen=True)
class DbSettings:
    host: str = "db"
    port: int = 5432
    dbname: str = "dockhard"
    user: str = "dockhard_app"
    password_file: str = "/run/secrets/db_app_password"  # noqa: S105 - a path, not a secret
    connect_timeout: int = 2
    statement_timeout_ms: int = 2000
    sslmode: str = "prefer"

    def describe(self) -> str:
        """Where the database is, for log lines (never includes the password)."""
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"


@dataclass(frozen=True)
class AuditEntry:
    method: str
    endpoint: str
    client: str | None
    status: int
    duration_ms: int


def read_secret(path: str) -> str | None:
    """Content of a secret file without its trailing newline, or None if unreadable/empty."""
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read(MAX_SECRET_BYTES + 1)
    except (OSError, UnicodeDecodeError):
        return None
    if len(value) > MAX_SECRET_BYTES:
        return None
    if value.endswith("\n"):
        value = value[:-1]
    return value or None


def client_address(raw: str | None) -> str | None:
    """The client address if it is an IP address (stored as inet), else None."""
    if not raw:
        return None
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


def _printable(text: str, limit: int) -> str:
    """Truncate and replace control characters (PostgreSQL text cannot hold NUL)."""
    return "".join(char if char.isprintable() else "?" for char in text[:limit])


# Known libpq failure causes, matched in the message, which itself is not logged.
_KNOWN_CAUSES = (
    ("password authentication failed", "authentication failed"),
    ("no password supplied", "no password (is DB_PASSWORD_FILE readable?)"),
    ("no pg_hba.conf entry", "rejected by pg_hba.conf"),
    ("connection refused", "connection refused"),
    ("timeout expired", "connect timeout"),
    ("could not translate host name", "unknown host"),
    ("does not exist", "database or role does not exist"),
    ("too many connections", "too many connections"),
    ("permission denied", "permission denied"),
)


def _describe_error(exc: BaseException) -> str:
    """Class name, SQLSTATE and a known cause: libpq messages are not echoed into logs."""
    parts = [type(exc).__name__]
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate:
        parts.append(f"SQLSTATE {sqlstate}")
    message = str(exc).lower()
    parts += [cause for needle, cause in _KNOWN_CAUSES if needle in message][:1]
    return ", ".join(parts)


class AuditLog:
    """One connection and one writer thread per process; rows are queued by request threads."""

    def __init__(self, settings: DbSettings, *, enabled: bool = True) -> None:
        self.settings = settings
        self.enabled = enabled
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=QUEUE_MAX_ROWS)
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self._dropped = 0
        self._unwritten = 0
        # Monotonic times since when the database is unreachable / the writer fails.
        self._unreachable_since: float | None = None
        self._write_failing_since: float | None = None

    def record(self, entry: AuditEntry) -> bool:
        """Queue one audit row; False (after logging) if auditing is off or the queue is full."""
        if not self.enabled:
            return False
        row = (
            _printable(entry.method, 16),
            _printable(entry.endpoint, MAX_ENDPOINT_LENGTH),
            client_address(entry.client),
            entry.status,
            max(entry.duration_ms, 0),
        )
        self._start_writer()
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            with self._writer_lock:  # request threads drop concurrently: count each row
                self._dropped += 1
                dropped = self._dropped
            if dropped == 1 or dropped % 1000 == 0:
                LOG.warning("audit queue full: %d rows dropped so far", dropped)
            return False
        return True

    def flush(self, timeout: float = FLUSH_WAIT_SECONDS) -> bool:
        """Wait until every queued row was written (or given up on); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._queue.all_tasks_done.wait(left)
        return True

    def _start_writer(self) -> None:
        if self._writer is not None:
            return
        with self._writer_lock:
            if self._writer is None:
                # Started on first use, so in each gunicorn worker, never before a fork.
                self._writer = threading.Thread(
                    target=self._write_forever, name="audit-writer", daemon=True
                )
                self._writer.start()
                atexit.register(self.flush)

    def _write_forever(self) -> None:
        while True:
            rows = [self._queue.get()]
            while len(rows) < BATCH_MAX_ROWS:
                try:
                    rows.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                written = self._execute(INSERT_SQL, rows, action="audit insert", many=True)
                with self._lock:
                    if written:
                        self._write_failing_since = None
                    else:
                        # Counted, and logged once the database is back: a line per
                        # batch would flood the log while it is down.
                        self._unwritten += len(rows)
                        if self._write_failing_since is None:
                            self._write_failing_since = time.monotonic()
            finally:
                for _ in rows:
                    self._queue.task_done()

    def healthy(self) -> bool:
        """Cheap liveness probe: SELECT 1 on the open connection (or one connect attempt)."""
        return self.enabled and self._execute("SELECT 1", None, action="health check")

    def status(self, grace_seconds: float) -> str:
        """ "ok"; "degraded" while the database or the writer has failed for at most
        ``grace_seconds``; "failing" after that."""
        reachable = self.healthy()
        with self._lock:
            times = (self._unreachable_since, self._write_failing_since)
        since = [t for t in times if t is not None]
        if reachable and not since:
            return "ok"
        if since and time.monotonic() - min(since) > grace_seconds:
            return "failing"
        return "degraded"

    def close(self) -> None:
        """Write what is queued, then close the connection."""
        self.flush()
        with self._lock:
            self._drop_connection()

    def _execute(self, sql: str, params: Any, *, action: str, many: bool = False) -> bool:
        """One statement, or one per row of ``params`` in a single transaction (``many``)."""
        if not self._lock.acquire(timeout=LOCK_WAIT_SECONDS):
            LOG.warning("%s skipped: database connection busy", action)
            return False
        try:
            conn = self._connection()
            if conn is None:
                return False
            if many:
                with conn.transaction(), conn.cursor() as cursor:
                    cursor.executemany(sql, params)
            else:
                conn.execute(sql, params)
            return True
        except (psycopg.OperationalError, psycopg.InterfaceError, OSError) as exc:
            self._failed(action, exc)
            return False
        except Exception as exc:  # any other DB failure must not fail the request either
            LOG.warning("%s failed: %s", action, _describe_error(exc))
            return False
        finally:
            self._lock.release()

    def _connection(self) -> psycopg.Connection[Any] | None:
        """The open connection, a new one, or None while backing off. Caller holds the lock."""
        if self._conn is not None and not self._conn.closed:
            return self._conn
        if time.monotonic() < self._retry_at:
            return None
        self._conn = self._connect()
        self._unreachable_since = None
        # A new connection gives the writer a new chance: the next batch decides.
        self._write_failing_since = None
        if self._failures:
            LOG.info(
                "audit database reachable again at %s; %d audit rows were not written",
                self.settings.describe(),
                self._unwritten,
            )
            self._unwritten = 0
        self._failures = 0
        self._retry_at = 0.0
        return self._conn

    def _connect(self) -> psycopg.Connection[Any]:
        settings = self.settings
        return psycopg.connect(
            host=settings.host,
            port=settings.port,
            dbname=settings.dbname,
            user=settings.user,
            password=read_secret(settings.password_file),
            connect_timeout=settings.connect_timeout,
            sslmode=settings.sslmode,
            application_name="dockhard-webapp",
            options=f"-c statement_timeout={settings.statement_timeout_ms}",
            autocommit=True,
        )

    def _failed(self, action: str, exc: BaseException) -> None:
        self._drop_connection()
        self._failures += 1
        if self._unreachable_since is None:
            self._unreachable_since = time.monotonic()
        doublings = min(self._failures - 1, _BACKOFF_MAX_DOUBLINGS)
        delay = min(BACKOFF_MAX_SECONDS, BACKOFF_INITIAL_SECONDS * 2**doublings)
        self._retry_at = time.monotonic() + delay
        LOG.warning(
            "%s failed at %s: %s; retrying in %.0f s",
            action,
            self.settings.describe(),
            _describe_error(exc),
            delay,
        )

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a broken connection may fail too
                LOG.debug("closing the audit connection failed", exc_info=False)
