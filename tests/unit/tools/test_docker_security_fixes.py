"""Unit tests of tools/docker_security_fixes.py on the corpus in corpus/."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import dockerfile
import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[3]
TOOL = ROOT / "tools" / "docker_security_fixes.py"
CORPUS = Path(__file__).parent / "corpus"
# The original exercise's stack is the project's own copy (files/original), tested as
# corpus/exercise/.
ORIGINAL = ROOT / "files" / "original"
BASELINE = ROOT / "roles" / "docker_daemon" / "files" / "daemon_baseline.json"
sys.path.insert(0, str(TOOL.parent))

import docker_security_fixes as dsf  # noqa: E402
from tools_testing import fix, run  # noqa: E402

CORPUS_FILES = sorted(
    [str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file() and dsf.kind_of(p)]
    + [f"exercise/{p.name}" for p in ORIGINAL.iterdir() if p.is_file() and dsf.kind_of(p)]
)
# Already hardened, or nothing the tool can do alone (warnings only).
HARDENED = ["compose.hardened.yaml", "hardened-already.Dockerfile", "unknown-base.Dockerfile"]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    shutil.copytree(ORIGINAL, target / "exercise")
    return target


def final_stage(text: str) -> list[dockerfile.Command]:
    structure = dockerfile.parse_string(text)
    starts = [i for i, item in enumerate(structure) if item.cmd.upper() == "FROM"]
    return list(structure[starts[-1] :])


def instructions(text: str, name: str) -> list[str]:
    """The text after the keyword of each `name` instruction of the final stage."""
    return [i.original.split(None, 1)[1] for i in final_stage(text) if i.cmd.upper() == name]


def load(path: Path) -> Any:
    return YAML().load(path.read_text())


# ----------------------------------------------------------------- corpus as a whole


def test_corpus_is_large_and_varied() -> None:
    dockerfiles = [f for f in CORPUS_FILES if dsf.kind_of(Path(f)) == "dockerfile"]
    composes = [f for f in CORPUS_FILES if dsf.kind_of(Path(f)) == "compose"]
    assert len(dockerfiles) + len(composes) >= 15
    assert len(dockerfiles) >= 8 and len(composes) >= 5


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_second_run_changes_nothing(corpus: Path, name: str) -> None:
    path = corpus / name
    fix(path)
    first = path.read_text()
    secrets = sorted(p.name for p in (path.parent / "secrets").glob("*"))
    assert run("--check", "--no-validate", path) == 0
    fix(path)
    assert path.read_text() == first
    assert sorted(p.name for p in (path.parent / "secrets").glob("*")) == secrets


@pytest.mark.parametrize("name", HARDENED)
def test_hardened_files_are_left_byte_for_byte(corpus: Path, name: str) -> None:
    path = corpus / name
    before = path.read_text()
    assert run("--check", path) == 0
    assert fix(path) == before
    assert not list(corpus.glob(f"{name}.*.bak"))


@pytest.mark.parametrize("name", sorted(set(CORPUS_FILES) - set(HARDENED)))
def test_check_exits_2_and_writes_nothing(corpus: Path, name: str) -> None:
    path = corpus / name
    before = path.read_text()
    assert run("--check", "--no-validate", path) == 2
    assert path.read_text() == before
    assert not (path.parent / "secrets").exists()


def test_directory_mode_fixes_every_kind(corpus: Path) -> None:
    assert run("--check", "--no-validate", corpus) == 2
    assert run("--no-validate", corpus) == 0
    assert run("--check", "--no-validate", corpus) == 0


# ----------------------------------------------------------------- Dockerfiles


def test_debian_slim_gets_system_user_python_healthcheck_and_copy(corpus: Path) -> None:
    text = fix(corpus / "debian-slim.Dockerfile")
    runs = instructions(text, "RUN")
    assert any("groupadd --system" in r and "useradd --system" in r for r in runs)
    assert instructions(text, "USER") == ["10001:10001"]
    health = instructions(text, "HEALTHCHECK")[0]
    assert '"python3", "-c"' in health and "http://127.0.0.1:8000/" in health
    assert instructions(text, "ADD") == []
    assert "COPY --chown=root:root app/ ./app/" in text
    assert text.startswith("# syntax=docker/dockerfile:1\n# A Flask API")
    assert text.rstrip().endswith('CMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]')


def test_secrets_in_env_and_arg_are_reported(corpus: Path, capsys: pytest.CaptureFixture) -> None:
    fix(corpus / "debian-slim.Dockerfile")
    err = capsys.readouterr().err
    assert "ENV API_TOKEN looks like a secret" in err
    assert "ARG DB_PASSWORD looks like a secret" in err
    assert "APP_HOME" not in err


def test_alpine_uses_busybox_user_tools_and_installed_curl(corpus: Path) -> None:
    text = fix(corpus / "alpine-curl.Dockerfile")
    runs = instructions(text, "RUN")
    assert any("addgroup -S" in r and "adduser -S" in r for r in runs)
    assert not any("useradd" in r for r in runs)
    assert instructions(text, "USER") == ["10001:10001"]
    assert '"curl", "-fsS"' in instructions(text, "HEALTHCHECK")[0]
    assert "8080" in instructions(text, "HEALTHCHECK")[0]


def test_multistage_distroless_uses_nonroot_uid_and_leaves_builder(corpus: Path) -> None:
    path = corpus / "go-distroless.Dockerfile"
    original = path.read_text()
    text = fix(path)
    assert instructions(text, "USER") == ["65532:65532"]
    assert instructions(text, "RUN") == []
    assert instructions(text, "HEALTHCHECK") == []
    builder = original.split("FROM gcr.io")[0]
    assert text.startswith(builder)  # the build stage, ADD included, is untouched


def test_distroless_nonroot_tag_keeps_its_user(corpus: Path) -> None:
    text = fix(corpus / "distroless-python-nonroot.Dockerfile")
    assert instructions(text, "USER") == []
    assert '"python3"' in instructions(text, "HEALTHCHECK")[0]
    assert "pip install --target=/deps" in text  # builder stage kept


def test_comments_before_the_document_start_are_kept(corpus: Path) -> None:
    path = corpus / "exercise" / "compose.yaml"
    head = path.read_text().split("---\n", 1)[0]
    assert head.startswith("# INTENTIONALLY UNHARDENED")
    assert fix(path).startswith(head + "---\nversion: '3.8'\n")


def test_secrets_are_kept_out_of_the_build_context(corpus: Path) -> None:
    """`build: .` next to the compose file would COPY the new secret files into the image."""
    folder = corpus / "exercise"
    fix(folder / "compose.yaml")
    ignore = folder / ".dockerignore"
    assert ignore.read_text().splitlines()[-1] == "secrets/"
    assert stat.S_IMODE(ignore.stat().st_mode) == 0o644
    assert run("--check", folder / "compose.yaml") == 0


def test_existing_and_dockerfile_specific_ignore_files(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "api.Dockerfile.dockerignore").write_text("*.pyc")
    (tmp_path / ".dockerignore").write_text(".git\n")
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        "services:\n"
        "  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: pw\n"
        "  web:\n    build: .\n"
        "  api:\n    build:\n      context: .\n      dockerfile: api/api.Dockerfile\n"
        "  other:\n    build: ./api\n"
    )
    fix(compose)
    assert (tmp_path / ".dockerignore").read_text().splitlines()[0] == ".git"
    assert (tmp_path / ".dockerignore").read_text().endswith("\nsecrets/\n")
    own = (tmp_path / "api" / "api.Dockerfile.dockerignore").read_text()
    assert own.startswith("*.pyc\n#") and own.endswith("\nsecrets/\n")
    assert not (tmp_path / "api" / ".dockerignore").exists()  # ./api does not hold secrets/
    assert run("--check", compose) == 0
    # A lost .dockerignore is put back; the compose file itself is neither rewritten nor
    # backed up again.
    (tmp_path / ".dockerignore").unlink()
    before, backups = compose.read_text(), sorted(tmp_path.glob("compose.yaml.*.bak"))
    assert run("--check", compose) == 2
    fix(compose)
    assert (tmp_path / ".dockerignore").read_text().endswith("\nsecrets/\n")
    assert compose.read_text() == before
    assert sorted(tmp_path.glob("compose.yaml.*.bak")) == backups


def test_exercise_web_keeps_its_user_and_gets_wget_healthcheck(corpus: Path) -> None:
    text = fix(corpus / "exercise" / "Dockerfile")
    assert instructions(text, "USER") == ["appuser"]
    assert instructions(text, "RUN").count("adduser -D appuser") == 1
    assert '"wget", "-q"' in instructions(text, "HEALTHCHECK")[0]
    assert "http://127.0.0.1:5000/" in instructions(text, "HEALTHCHECK")[0]


def test_stage_chain_takes_family_and_port_from_the_parent_stage(corpus: Path) -> None:
    text = fix(corpus / "node-stage-chain.Dockerfile")
    assert instructions(text, "USER") == ["node"]  # the node image's own user
    assert 'CMD ["wget"' in instructions(text, "HEALTHCHECK")[0]  # alpine's busybox
    assert "http://127.0.0.1:3000/" in instructions(text, "HEALTHCHECK")[0]
    assert "copy src/ ./src/" in text  # keyword case kept
    assert "RUN npm ci --omit=dev" in text


def test_user_created_by_a_run_is_reused(corpus: Path) -> None:
    text = fix(corpus / "ubuntu-own-user.Dockerfile")
    assert instructions(text, "USER") == ["web"]
    assert not any("groupadd" in r for r in instructions(text, "RUN"))
    assert '"curl"' in instructions(text, "HEALTHCHECK")[0]


def test_remote_and_archive_add_are_kept_and_reported(
    corpus: Path, capsys: pytest.CaptureFixture
) -> None:
    text = fix(corpus / "hardened-already.Dockerfile")
    assert len(instructions(text, "ADD")) == 2
    err = capsys.readouterr().err
    assert "ADD kept: remote source" in err and "ADD kept: local archive" in err


def test_unknown_base_and_scratch(corpus: Path, capsys: pytest.CaptureFixture) -> None:
    unknown = corpus / "unknown-base.Dockerfile"
    before = unknown.read_text()
    assert fix(unknown) == before
    err = capsys.readouterr().err
    assert "unknown base image family" in err and "SECRET_KEY_BASE" in err
    scratch = fix(corpus / "scratch-no-port.Dockerfile")
    assert instructions(scratch, "USER") == ["65532:65532"]
    assert "no EXPOSEd TCP port" in capsys.readouterr().err


def test_explicit_root_user_is_left_and_reported(
    corpus: Path, capsys: pytest.CaptureFixture
) -> None:
    text = fix(corpus / "debian-root-explicit.Dockerfile")
    assert instructions(text, "USER") == ["root"]
    assert '"wget"' in instructions(text, "HEALTHCHECK")[0]
    assert "runs as root" in capsys.readouterr().err


# ----------------------------------------------------------------- compose


def assert_hardened_service(service: Any) -> None:
    assert service["read_only"] is True
    assert list(service["cap_drop"]) == ["ALL"] or "ALL" in service["cap_drop"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["restart"] == "on-failure:5" or dsf.restart_ok(service["restart"])


def test_exercise_stack(corpus: Path) -> None:
    path = corpus / "exercise" / "compose.yaml"
    fix(path)
    doc = load(path)
    web, db = doc["services"]["web"], doc["services"]["db"]
    for service in (web, db):
        assert_hardened_service(service)
        assert service["mem_limit"] == "512m" and service["cpus"] == 1.0
        assert service["pids_limit"] == 200 and service["cpu_shares"] == 512
    assert list(web["ports"]) == ["127.0.0.1:15000:5000"]
    assert list(web["networks"]) == ["frontend"] and list(db["networks"]) == ["backend"]
    assert list(web["tmpfs"]) == ["/tmp"]
    assert "healthcheck" not in web  # built image: its Dockerfile gets the HEALTHCHECK
    assert db["user"] == "postgres"
    assert list(db["tmpfs"]) == ["/var/run/postgresql", "/tmp"]
    assert list(db["volumes"]) == ["db-data:/var/lib/postgresql/data"]
    assert "db-data" in doc["volumes"]
    assert "pg_isready" in db["healthcheck"]["test"][1]
    assert dict(db["environment"]) == {
        "POSTGRES_USER": "user",
        "POSTGRES_PASSWORD_FILE": "/run/secrets/db_postgres_password",
        "POSTGRES_DB": "mydb",
    }
    assert list(db["secrets"]) == ["db_postgres_password"]
    assert doc["secrets"]["db_postgres_password"]["file"] == "./secrets/db_postgres_password"
    assert doc["version"] == "3.8"
    assert list(doc) == ["version", "services", "networks", "volumes", "secrets"]


def test_secret_files_are_written_private(corpus: Path) -> None:
    fix(corpus / "exercise" / "compose.yaml")
    folder = corpus / "exercise" / "secrets"
    secret = folder / "db_postgres_password"
    assert secret.read_text() == "password"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(secret.stat().st_mode) == 0o644
    assert (folder / ".gitignore").read_text() == "*\n"


def test_every_port_syntax(corpus: Path, capsys: pytest.CaptureFixture) -> None:
    path = corpus / "compose.ports.yaml"
    fix(path)
    ports = load(path)["services"]["edge"]["ports"]
    assert list(ports[:11]) == [
        "127.0.0.1:15000:5000",
        "127.0.0.1::5000",
        "127.0.0.1::6000",
        "127.0.0.1:8000-8010:8000-8010",
        "127.0.0.1:53:53/udp",
        "127.0.0.1:9000:9000",
        "127.0.0.1:9001:9001",
        "127.0.0.1:9002:9002",
        "[::1]:80:80",
        "[::1]:81:81",
        "${EDGE_PORT}:7000",
    ]
    assert [p["host_ip"] for p in ports[11:]] == ["127.0.0.1"] * 3
    assert ports[11]["mode"] == "host"
    assert "uses a variable" in capsys.readouterr().err
    text = path.read_text()
    assert "# Every way of writing a published port." in text
    assert "'127.0.0.1:9002:9002'" in text  # quoting style kept
    assert '"127.0.0.1:9000:9000" # already loopback: kept' in text


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("15000:5000", "127.0.0.1:15000:5000"),
        ("5000", "127.0.0.1::5000"),
        ("8000-8010:8000-8010", "127.0.0.1:8000-8010:8000-8010"),
        ("53:53/udp", "127.0.0.1:53:53/udp"),
        ("0.0.0.0:80:80", "127.0.0.1:80:80"),
        ("127.0.0.2:80:80", None),
        ("[::]:80:80", "[::1]:80:80"),
        ("[::1]:80:80", None),
        ("${PORT}:80", None),
    ],
)
def test_rebind_short_port(spec: str, expected: str | None) -> None:
    assert dsf.rebind_short_port(spec) == expected


def test_list_env_secrets_move_only_where_the_image_reads_file(
    corpus: Path, capsys: pytest.CaptureFixture
) -> None:
    path = corpus / "compose.secrets-list.yml"
    fix(path)
    doc = load(path)
    mysql, app = doc["services"]["mysql"], doc["services"]["app"]
    assert list(mysql["environment"]) == [
        "MYSQL_ROOT_PASSWORD_FILE=/run/secrets/mysql_mysql_root_password",
        "MYSQL_DATABASE=shop",
        "MYSQL_USER=shop",
        "MYSQL_PASSWORD_FILE=/run/secrets/mysql_mysql_password",
    ]
    assert set(doc["secrets"]) == {"mysql_mysql_root_password", "mysql_mysql_password"}
    assert (corpus / "secrets" / "mysql_mysql_password").read_text() == "shoppw"
    assert list(mysql["volumes"]) == ["dbdata:/var/lib/mysql"]  # named volume kept, none added
    assert list(mysql["tmpfs"]) == ["/var/run/mysqld", "/tmp"]
    assert "SECRET_KEY=not-so-secret" in app["environment"]
    assert "secrets" not in app
    err = capsys.readouterr().err
    assert "SECRET_KEY is a plain-text secret" in err
    assert "STRIPE_API_KEY comes from the shell" in err
    assert "SESSION_TOKEN comes from an interpolated variable" in err


def test_mariadb_redis_layout_and_existing_volumes(corpus: Path) -> None:
    path = corpus / "docker-compose.mariadb-redis.yml"
    fix(path)
    text = path.read_text()
    assert text.startswith("---\n# Comments and layout must survive.\nservices:\n    cache:\n")
    assert "restart: on-failure:5 # CIS wants on-failure:5" in text
    doc = load(path)
    cache, db = doc["services"]["cache"], doc["services"]["db"]
    assert cache["volumes"][0]["target"] == "/data" and len(cache["volumes"]) == 1
    assert cache["user"] == "redis" and list(cache["healthcheck"]["test"]) == [
        "CMD",
        "redis-cli",
        "ping",
    ]
    assert list(db["volumes"]) == ["db-data:/var/lib/mysql"]
    assert list(db["ports"]) == ["127.0.0.1:3306:3306"]
    assert dict(db["environment"])["MARIADB_ROOT_PASSWORD_FILE"].startswith("/run/secrets/")
    assert set(doc["volumes"]) == {"cachedata", "db-data"}
    assert "\n\n    db:\n" in text  # the blank line between services stays where it was


def test_deploy_limits_and_existing_lists_are_respected(corpus: Path) -> None:
    path = corpus / "compose.nginx-deploy.yaml"
    fix(path)
    proxy = load(path)["services"]["proxy"]
    for key in ("mem_limit", "cpus", "pids_limit"):
        assert key not in proxy  # deploy.resources.limits already sets them
    assert proxy["cpu_shares"] == 512
    assert list(proxy["cap_drop"]) == ["NET_RAW", "ALL"]
    assert list(proxy["security_opt"]) == ["apparmor=docker-default", "no-new-privileges:true"]
    assert list(proxy["tmpfs"]) == ["/tmp", "/var/cache/nginx", "/var/run"]
    assert list(proxy["ports"]) == ["127.0.0.1:80:80", "127.0.0.1:443:443"]


def test_compose_limits_are_configurable(corpus: Path) -> None:
    path = corpus / "compose.ports.yaml"
    fix(path, "--mem-limit", "1g", "--cpus", "2", "--pids-limit", "64", "--cpu-shares", "256")
    edge = load(path)["services"]["edge"]
    assert (edge["mem_limit"], edge["cpus"], edge["pids_limit"], edge["cpu_shares"]) == (
        "1g",
        2.0,
        64,
        256,
    )


# ----------------------------------------------------------------- daemon.json


def test_daemon_merges_baseline_and_keeps_user_keys(corpus: Path) -> None:
    path = corpus / "daemon.user.json"
    result = json.loads(fix(path))
    baseline = json.loads(BASELINE.read_text())
    for cis, keys in baseline.items():
        if cis.startswith("_"):
            continue
        for key, value in keys.items():
            if key == "log-driver":
                assert result[key] == "awslogs"  # a remote driver is hardened already
            elif key == "default-ulimits":
                assert result[key]["nofile"]["Soft"] == 1024  # user's own limit kept
                assert result[key]["nproc"] == value["nproc"]
            elif key in dsf.ENGINE_DEFAULTS:  # absent means the engine's (hardened) default
                assert result.get(key, dsf.ENGINE_DEFAULTS[key]) == value, (cis, key)
            else:
                assert result[key] == value, (cis, key)
    assert result["insecure-registries"] == []  # the user's insecure registry is gone
    assert result["data-root"] == "/srv/docker"
    assert result["log-opts"] == {"awslogs-region": "eu-west-1"}


def test_daemon_skip_and_custom_baseline(corpus: Path, tmp_path: Path) -> None:
    path = corpus / "daemon.user.json"
    result = json.loads(fix(path, "--skip", "2.9,2.2"))
    assert "userns-remap" not in result and result["icc"] is True
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"_comment": "x", "9.9": {"debug": False}}))
    empty = tmp_path / "daemon.json"
    empty.write_text("{}\n")
    assert json.loads(fix(empty, "--baseline", str(baseline))) == {"debug": False}
    assert run("--no-validate", "--skip", "7.7", path) == 1


# The real dockerd judges the file (through roles/docker_daemon/files/dockerd-validate).
# userns-remap (2.9) is left out here: dockerd would create the dockremap user
# on the machine running the tests.
needs_dockerd = pytest.mark.skipif(
    shutil.which("dockerd") is None or os.geteuid() != 0,
    reason="needs dockerd (installed by scripts/bootstrap.sh) and root",
)


@needs_dockerd
def test_daemon_is_validated_by_dockerd(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": false}\n')
    assert run("--skip", "2.9", path) == 0
    assert "validated with dockerd" in capsys.readouterr().err
    assert json.loads(path.read_text())["icc"] is False


@needs_dockerd
def test_daemon_rejected_by_dockerd_is_not_written(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "daemon.json"
    before = '{"no-such-daemon-option": 1}\n'
    path.write_text(before)
    assert run("--skip", "2.9", path) == 1
    assert "dockerd rejects" in capsys.readouterr().err
    assert path.read_text() == before and not list(tmp_path.glob("daemon.json.*"))


# ----------------------------------------------------------------- writing, diff, errors


def test_write_is_atomic_with_backup_and_mode_kept(corpus: Path) -> None:
    path = corpus / "alpine-curl.Dockerfile"
    path.chmod(0o640)
    before = path.read_text()
    fix(path)
    backups = list(corpus.glob("alpine-curl.Dockerfile.*.bak"))
    assert len(backups) == 1 and backups[0].read_text() == before
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert not list(corpus.glob(".alpine-curl.Dockerfile.*"))  # no temporary file left


def test_write_failure_leaves_the_original(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = corpus / "alpine-curl.Dockerfile"
    before = path.read_text()

    def broken_replace(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        dsf.write_atomic(path, "garbage")
    assert path.read_text() == before
    assert not list(corpus.glob(".alpine-curl.Dockerfile.*"))


def test_diff_prints_unified_diff_and_writes_nothing(
    corpus: Path, capsys: pytest.CaptureFixture
) -> None:
    path = corpus / "exercise" / "compose.yaml"
    before = path.read_text()
    assert run("--diff", path) == 0
    out = capsys.readouterr().out
    name = path.as_posix().lstrip("/")  # as git names an absolute path
    assert out.startswith(f"--- a/{name}\n+++ b/{name}\n@@")
    assert '-      - "15000:5000"' in out and '+      - "127.0.0.1:15000:5000"' in out
    assert "secrets/db_postgres_password (new secret file, value not shown)" in out
    assert path.read_text() == before and not (path.parent / "secrets").exists()
    assert run("--check", "--diff", path) == 2


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("compose.yaml", "services:\n  web: [unclosed\n", "not valid YAML"),
        ("compose.yaml", "just: a mapping\n", "no `services:` mapping"),
        ("daemon.json", '{"icc": false,}', "not valid JSON"),
        ("daemon.json", "[1, 2]", "must hold a JSON object"),
        ("Dockerfile", "# only a comment\nRUN echo hi\n", "no FROM instruction"),
    ],
)
def test_bad_input_is_an_error_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture, name: str, content: str, message: str
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / name).write_text(content)
    good = project / "sub" / "Dockerfile"
    good.parent.mkdir()
    good.write_text("FROM alpine:3.20\nEXPOSE 80\n")
    assert run("--no-validate", project) == 1
    err = capsys.readouterr().err
    assert message in err and "nothing written" in err
    assert (project / name).read_text() == content
    assert good.read_text() == "FROM alpine:3.20\nEXPOSE 80\n"
    assert sorted(p.name for p in project.rglob("*")) == sorted(["sub", name, "Dockerfile"])


def test_missing_path_and_unknown_kind(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path / "absent") == 1
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    assert run(other) == 1
    assert "use --kind" in capsys.readouterr().err


def test_command_line_exit_codes(corpus: Path) -> None:
    def cli(*args: str | Path) -> int:
        argv = [sys.executable, str(TOOL), "--no-validate", *map(str, args)]
        return subprocess.run(argv, capture_output=True, check=False).returncode

    assert cli("--check", corpus / "compose.hardened.yaml") == 0
    assert cli("--check", corpus / "compose.ports.yaml") == 2
    assert cli("--check", corpus / "absent.yaml") == 1
    assert cli(corpus / "compose.ports.yaml") == 0
    assert cli("--check", corpus / "compose.ports.yaml") == 0


def test_anchors_and_merge_keys_count_as_set(corpus: Path) -> None:
    path = corpus / "compose.anchors.yaml"
    before = path.read_text()
    text = fix(path)
    assert text.startswith(before.split("services:")[0])  # the anchor and the blank line kept
    doc = load(path)
    for name in ("worker", "scheduler"):
        service = doc["services"][name]
        own = service._ok  # keys written in the service itself, not merged from the anchor
        assert "read_only" not in own and "cap_drop" not in own
        assert service["read_only"] is True and list(service["cap_drop"]) == ["ALL"]
        assert service["restart"] == "on-failure:5"  # overrides the anchor's unless-stopped
        assert list(service["tmpfs"]) == ["/tmp"]
    assert doc["x-common"]["restart"] == "unless-stopped"
    assert "environment: *workerenv" in text
    assert "    tmpfs:\n      - /tmp\n" in text  # the usual "- " under the key


def test_project_app_meets_the_tool(capsys: pytest.CaptureFixture) -> None:
    """The project holds its own app (files/app: Dockerfiles, compose.yaml) to the tool's rules."""
    app = ROOT / "files/app"
    assert run("--check", app) == 0, capsys.readouterr().out
