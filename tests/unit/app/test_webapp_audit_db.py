"""The audit trail against a real, throw-away PostgreSQL cluster.

Runs db/init.sql and db/10-app-role.sh exactly as the database container does,
then checks the role's privileges, that the password never reaches the server
log (statement logging is on: log_statement=all), and that the app writes one row
per request through that role. Skipped where no PostgreSQL server binaries exist.
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from webapp import create_app
from webapp.audit import BATCH_MAX_ROWS, AuditEntry, AuditLog, DbSettings
from webapp_testing import free_port, get, get_raw

DB_DIR = Path(__file__).resolve().parents[3] / "files" / "app" / "db"
# Quotes, backslashes, shell syntax and psql syntax: all must arrive verbatim.
APP_PASSWORD = "it's a \"pass\" \\word $(touch PWNED) `id` :x :'y' ;--"  # noqa: S105 - test value


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _run_as() -> str | None:
    """PostgreSQL refuses to run as root: use the 'postgres' account when root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and no 'postgres' account for the server")
    return "postgres"


@dataclass
class Cluster:
    workdir: Path
    socket_dir: Path
    port: int
    user: str | None
    psql: str
    log: Path

    def env(self, **extra: str) -> dict[str, str]:
        path = os.pathsep.join([os.path.dirname(self.psql), os.environ.get("PATH", "/usr/bin")])
        return {"PATH": path, "PGHOST": str(self.socket_dir), "PGPORT": str(self.port), **extra}

    def run(self, argv: list[str], **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            env=self.env(**extra_env),
            user=self.user,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def psql_as_superuser(self, sql: str, dbname: str = "dockhard") -> str:
        done = self.run([self.psql, "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-d", dbname, "-c", sql])
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def write_password(self, value: str) -> Path:
        path = self.workdir / "db_app_password"
        path.write_text(value + "\n", encoding="utf-8")
        path.chmod(0o600)
        if self.user:
            shutil.chown(path, self.user)
        return path

    def set_app_password(self, path: Path) -> subprocess.CompletedProcess[str]:
        return self.run(
            ["sh", str(self.workdir / "db" / "10-app-role.sh")],
            DB_APP_PASSWORD_FILE=str(path),
            POSTGRES_USER="postgres",
            POSTGRES_DB="dockhard",
        )

    def app_connection(self, password: str) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            dbname="dockhard",
            user="dockhard_app",
            password=password,
            connect_timeout=5,
            autocommit=True,
        )


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    initdb, pg_ctl, psql = _pg_bin("initdb"), _pg_bin("pg_ctl"), _pg_bin("psql")
    if not (initdb and pg_ctl and psql):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, psql) not installed")
    user = _run_as()
    workdir = Path(tempfile.mkdtemp(prefix="dockhard-pg-"))
    # The server's user may not traverse the checkout (a clone under a 0700
    # directory): it reads copies of the database scripts.
    shutil.copytree(DB_DIR, workdir / "db")
    if user:
        for path in [workdir, *workdir.rglob("*")]:
            shutil.chown(path, user)
    cluster = Cluster(workdir, workdir, free_port(), user, psql, workdir / "server.log")
    data = str(workdir / "data")
    init = cluster.run(
        [initdb, "-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256"]
    )
    assert init.returncode == 0, init.stderr
    options = (
        f"-k {workdir} -p {cluster.port} -h 127.0.0.1 -c fsync=off "
        "-c log_statement=all -c log_min_error_statement=error -c log_connections=on"
    )
    start = cluster.run([pg_ctl, "-D", data, "-l", str(cluster.log), "-w", "-o", options, "start"])
    assert start.returncode == 0, start.stderr + cluster.log.read_text(errors="replace")
    try:
        cluster.psql_as_superuser("CREATE DATABASE dockhard", dbname="postgres")
        yield cluster
    finally:
        cluster.run([pg_ctl, "-D", data, "-m", "immediate", "stop"])
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def provisioned(cluster: Cluster) -> Cluster:
    for _ in range(2):  # idempotent
        done = cluster.run(
            [
                cluster.psql,
                "-X",
                "-q",
                "-d",
                "dockhard",
                "-f",
                str(cluster.workdir / "db" / "init.sql"),
            ]
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
    done = cluster.set_app_password(cluster.write_password(APP_PASSWORD))
    assert done.returncode == 0, done.stderr
    return cluster


def test_role_is_least_privilege(provisioned: Cluster) -> None:
    attributes = provisioned.psql_as_superuser(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin "
        "FROM pg_roles WHERE rolname = 'dockhard_app'"
    )
    assert attributes == "f|f|f|f|f|t"
    privileges = provisioned.psql_as_superuser(
        "SELECT string_agg(p, ',' ORDER BY p) FROM unnest(ARRAY"
        "['SELECT','INSERT','UPDATE','DELETE','TRUNCATE','REFERENCES','TRIGGER']) AS p "
        "WHERE has_table_privilege('dockhard_app', 'public.request_audit', p)"
    )
    assert privileges == "INSERT,SELECT"
    assert provisioned.psql_as_superuser(
        "SELECT has_sequence_privilege('dockhard_app', 'public.request_audit_id_seq', 'USAGE'),"
        " has_schema_privilege('dockhard_app', 'public', 'CREATE')"
    ) == ("t|f")


def test_password_is_stored_as_scram_and_never_logged(provisioned: Cluster) -> None:
    stored = provisioned.psql_as_superuser(
        "SELECT rolpassword FROM pg_authid WHERE rolname = 'dockhard_app'"
    )
    assert stored.startswith("SCRAM-SHA-256$")
    log = provisioned.log.read_text(errors="replace")
    assert "statement: CREATE TABLE IF NOT EXISTS public.request_audit" in log  # logging is on
    assert APP_PASSWORD not in log
    assert "LOGIN PASSWORD" not in log
    assert not (provisioned.workdir / "PWNED").exists()


def test_app_role_can_append_and_read_only(provisioned: Cluster) -> None:
    with provisioned.app_connection(APP_PASSWORD) as conn:
        conn.execute(
            "INSERT INTO request_audit (method, endpoint, status) VALUES ('GET', '/probe', 200)"
        )
        assert conn.execute("SELECT count(*) FROM request_audit").fetchone() is not None
        for statement in (
            "DELETE FROM request_audit",
            "UPDATE request_audit SET status = 500",
            "TRUNCATE request_audit",
            "CREATE TABLE evil (id int)",
            "DROP TABLE request_audit",
            "SELECT rolpassword FROM pg_authid",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_wrong_password_is_refused(provisioned: Cluster) -> None:
    with pytest.raises(psycopg.OperationalError):
        provisioned.app_connection("wrong")


def test_app_writes_one_row_per_request(provisioned: Cluster, tmp_path: Path) -> None:
    secret = tmp_path / "db_app_password"
    secret.write_text(APP_PASSWORD + "\n", encoding="utf-8")
    app = create_app(
        {"DB_HOST": "127.0.0.1", "DB_PORT": provisioned.port, "DB_PASSWORD_FILE": str(secret)}
    )
    client = app.test_client()
    marker = "auditprobe"
    try:
        assert get(client, "/healthz").get_json() == {"status": "ok", "db": "ok"}
        assert get(client, "/", name=marker).status_code == 200
        assert get(client, "/calculate", expr="1/0").status_code == 400
        assert get_raw(client, "/nowhere%00x").status_code == 404
        response = client.get(
            "/", query_string={"name": "b"}, environ_base={"REMOTE_ADDR": "10.9.8.7"}, buffered=True
        )
        assert response.status_code == 200
    finally:
        app.extensions["dockhard.audit"].close()
    rows = provisioned.psql_as_superuser(
        "SELECT method, endpoint, coalesce(host(client), '-'), status FROM request_audit "
        "WHERE endpoint <> '/probe' ORDER BY id"
    ).splitlines()
    assert rows == [
        "GET|/|127.0.0.1|200",
        "GET|/calculate|127.0.0.1|400",
        "GET|/nowhere?x|127.0.0.1|404",
        "GET|/|10.9.8.7|200",
    ]
    # Query strings (which may carry anything) are never stored, nor health probes.
    endpoints = provisioned.psql_as_superuser("SELECT string_agg(endpoint, ' ') FROM request_audit")
    assert marker not in endpoints
    assert "/healthz" not in endpoints


def test_rows_are_written_in_batches_in_order(provisioned: Cluster, tmp_path: Path) -> None:
    """More rows than a batch holds: all are written, in the order they were queued,
    with fewer transactions than rows (the log shows one BEGIN per batch)."""
    secret = tmp_path / "db_app_password"
    secret.write_text(APP_PASSWORD + "\n", encoding="utf-8")
    settings = DbSettings(host="127.0.0.1", port=provisioned.port, password_file=str(secret))
    audit = AuditLog(settings)
    log_before = len(provisioned.log.read_text(errors="replace"))
    count = BATCH_MAX_ROWS + 300
    try:
        for n in range(count):
            entry = AuditEntry(
                method="GET", endpoint=f"/batch/{n}", client=None, status=200, duration_ms=n
            )
            assert audit.record(entry)
    finally:
        audit.close()
    written = provisioned.psql_as_superuser(
        "SELECT string_agg(duration_ms::text, ',' ORDER BY id) FROM request_audit "
        "WHERE endpoint LIKE '/batch/%'"
    )
    assert written == ",".join(str(n) for n in range(count))
    begins = provisioned.log.read_text(errors="replace")[log_before:].count("statement: BEGIN")
    assert 2 <= begins < count / 10


def test_password_rotation(provisioned: Cluster) -> None:
    new_password = "rotated-" + APP_PASSWORD[::-1]
    done = provisioned.set_app_password(provisioned.write_password(new_password))
    assert done.returncode == 0, done.stderr
    provisioned.app_connection(new_password).close()
    with pytest.raises(psycopg.OperationalError):
        provisioned.app_connection(APP_PASSWORD)
    assert new_password not in provisioned.log.read_text(errors="replace")
    done = provisioned.set_app_password(provisioned.write_password(APP_PASSWORD))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("\n", "empty password"),
        ("two\nlines\n", "single line"),
        ("carriage\r\n", "carriage return"),
    ],
)
def test_role_script_refuses_bad_password_files(tmp_path: Path, content: str, message: str) -> None:
    # Checked before psql is started: no database needed.
    secret = tmp_path / "pw"
    secret.write_text(content, encoding="utf-8", newline="")
    done = subprocess.run(
        ["sh", str(DB_DIR / "10-app-role.sh")],
        env={"PATH": "/usr/bin:/bin", "DB_APP_PASSWORD_FILE": str(secret)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert message in done.stderr


def test_role_script_refuses_a_missing_password_file(tmp_path: Path) -> None:
    done = subprocess.run(
        ["sh", str(DB_DIR / "10-app-role.sh")],
        env={"PATH": "/usr/bin:/bin", "DB_APP_PASSWORD_FILE": str(tmp_path / "missing")},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert "missing or unreadable" in done.stderr


def test_sql_files_hold_no_password() -> None:
    init_sql = (DB_DIR / "init.sql").read_text(encoding="utf-8").upper()
    assert "PASSWORD '" not in init_sql
    assert "PASSWORD :" not in init_sql


@pytest.mark.parametrize(
    ("proxies", "peer", "expected"),
    [
        (0, "127.0.0.1", "127.0.0.1"),
        # gunicorn gives a request on its unix socket (only nginx reaches it) no peer address.
        (1, "", "203.0.113.9"),
        # A TCP peer is a direct client: its X-Forwarded-For is not trusted.
        (1, "127.0.0.1", "127.0.0.1"),
    ],
)
def test_forwarded_for_is_trusted_only_when_configured(
    provisioned: Cluster, tmp_path: Path, proxies: int, peer: str, expected: str
) -> None:
    secret = tmp_path / "db_app_password"
    secret.write_text(APP_PASSWORD + "\n", encoding="utf-8")
    app = create_app(
        {
            "DB_HOST": "127.0.0.1",
            "DB_PORT": provisioned.port,
            "DB_PASSWORD_FILE": str(secret),
            "TRUSTED_PROXIES": proxies,
        }
    )
    path = f"/proxied{proxies}{peer or 'unix'}"
    try:
        response = app.test_client().get(
            path,
            headers={"X-Forwarded-For": "203.0.113.9"},
            environ_overrides={"REMOTE_ADDR": peer},
            buffered=True,
        )
        assert response.status_code == 404
    finally:
        app.extensions["dockhard.audit"].close()
    rows = provisioned.psql_as_superuser(
        "SELECT endpoint || '=' || host(client) FROM request_audit WHERE endpoint LIKE '/proxied%'"
    ).splitlines()
    assert f"{path}={expected}" in rows


def test_app_logs_a_refused_password_without_it(
    provisioned: Cluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-" + APP_PASSWORD
    secret = tmp_path / "db_app_password"
    secret.write_text(wrong + "\n", encoding="utf-8")
    app = create_app(
        {"DB_HOST": "127.0.0.1", "DB_PORT": provisioned.port, "DB_PASSWORD_FILE": str(secret)}
    )
    client = app.test_client()
    try:
        with caplog.at_level(logging.DEBUG):
            assert get(client, "/healthz").get_json() == {
                "status": "degraded",
                "db": "unavailable",
            }
            assert get(client, "/", name="bob").status_code == 200
    finally:
        app.extensions["dockhard.audit"].close()
    assert "authentication failed" in caplog.text
    assert wrong not in caplog.text
    assert APP_PASSWORD not in caplog.text
