"""tools/docker_security_fixes.py on files of the kind found in public repositories (issue 16).

The inputs are in realworld/ (kept out of corpus/, whose files the corpus-wide tests of
test_docker_security_fixes.py expect to need changes). One section per class of failure.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import dockerfile
import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[3]
TOOL = ROOT / "tools" / "docker_security_fixes.py"
REAL = Path(__file__).parent / "realworld"
sys.path.insert(0, str(TOOL.parent))

import docker_security_fixes as dsf  # noqa: E402
from dockerfix import images as image_needs  # noqa: E402
from tools_testing import fix, run  # noqa: E402

INPUTS = sorted(p.name for p in REAL.iterdir() if dsf.kind_of(p))
COMPLIANT = ["compose.hardened-mongo.yaml", "daemon.hardened.json", "heredoc-hardened.Dockerfile"]


@pytest.fixture
def real(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of realworld/, also the working directory (diff paths are relative to it)."""
    target = tmp_path / "real"
    shutil.copytree(REAL, target)
    monkeypatch.chdir(target)
    return target


def final_instructions(text: str, name: str) -> list[dockerfile.Command]:
    commands = dockerfile.parse_string(text)
    start = max(i for i, c in enumerate(commands) if c.cmd.upper() == "FROM")
    return [c for c in commands[start:] if c.cmd.upper() == name]


def load(text: str) -> Any:
    return YAML().load(text)


# ----------------------------------------------------------------- 1. data-root & co


OWN_PATHS = {
    "data-root": "/mnt/docker-data",
    "exec-root": "/run/docker-exec",
    "pidfile": "/run/docker-custom.pid",
}


def test_daemon_paths_of_the_user_are_kept(real: Path) -> None:
    result = json.loads(fix(real / "daemon.ec2.json"))
    assert {key: result[key] for key in OWN_PATHS} == OWN_PATHS
    assert result["icc"] is False and result["log-driver"] == "journald"
    # json-file's own options would stop dockerd with journald (the validator's finding).
    assert "log-opts" not in result


def test_log_opts_every_driver_takes_are_kept(real: Path, capsys: pytest.CaptureFixture) -> None:
    path = real / "daemon.json"
    path.write_text(
        '{"log-driver": "json-file", "log-opts": {"max-size": "1m", "tag": "{{.Name}}"}}'
    )
    assert json.loads(fix(path))["log-opts"] == {"tag": "{{.Name}}"}
    assert "log-opts: max-size dropped (json-file options that journald" in capsys.readouterr().err
    kept = {"log-driver": "awslogs", "log-opts": {"awslogs-region": "eu-west-1"}}
    path.write_text(json.dumps(kept))
    assert json.loads(fix(path))["log-opts"] == kept["log-opts"]  # driver kept: options too


# The real dockerd judges the file (roles/docker_daemon/files/dockerd-validate); 2.9 is
# skipped because dockerd would create the dockremap user on the machine.
needs_dockerd = pytest.mark.skipif(
    shutil.which("dockerd") is None or os.geteuid() != 0,
    reason="needs dockerd (installed by scripts/bootstrap.sh) and root",
)


@needs_dockerd
def test_daemon_with_data_root_is_validated_by_dockerd_and_written(
    real: Path, capsys: pytest.CaptureFixture
) -> None:
    path = real / "daemon.ec2.json"
    assert run("--skip", "2.9", path) == 0, capsys.readouterr().err
    assert "validated with dockerd" in capsys.readouterr().err
    result = json.loads(path.read_text())
    assert {key: result[key] for key in OWN_PATHS} == OWN_PATHS
    assert result["log-driver"] == "journald" and "log-opts" not in result
    assert not Path(OWN_PATHS["data-root"]).exists()  # the validator used its own paths


# ----------------------------------------------------------------- 2. no churn


@pytest.mark.parametrize("name", COMPLIANT)
def test_compliant_files_are_left_byte_for_byte(real: Path, name: str) -> None:
    path = real / name
    before, stamp = path.read_bytes(), path.stat().st_mtime_ns
    assert run("--check", "--no-validate", path) == 0
    assert run("--no-validate", path) == 0
    assert path.read_bytes() == before and path.stat().st_mtime_ns == stamp
    assert not list(real.glob("*.bak")) and not (real / "secrets").exists()


def test_engine_defaults_need_not_be_written(real: Path) -> None:
    """2.3, 2.4, 2.5 and 2.18 hold when the key is absent: the engine's default is hardened."""
    baseline = json.loads(dsf.DEFAULT_BASELINE.read_text())
    defaults = {
        k: v for keys in baseline.values() if isinstance(keys, dict) for k, v in keys.items()
    }
    assert {k: defaults[k] for k in dsf.ENGINE_DEFAULTS} == dsf.ENGINE_DEFAULTS
    assert not set(dsf.ENGINE_DEFAULTS) & set(
        json.loads((real / "daemon.hardened.json").read_text())
    )
    # A value other than the default is still fixed.
    path = real / "daemon.hardened.json"
    data = json.loads(path.read_text()) | {"experimental": True, "insecure-registries": ["r:5000"]}
    path.write_text(json.dumps(data, indent=4) + "\n")
    result = json.loads(fix(path))
    assert result["experimental"] is False and result["insecure-registries"] == []


# ----------------------------------------------------------------- 3. formatting


def test_json_indentation_is_kept(real: Path) -> None:
    text = fix(real / "daemon.ec2.json")
    assert text.startswith('{\n    "data-root": "/mnt/docker-data",\n    "exec-root"')
    assert '\n    "default-ulimits": {\n        "nofile": {\n            "Name"' in text
    assert text.endswith("\n}\n")
    tabs = real / "tabs.json"
    tabs.write_text('{\n\t"icc": false\n}')  # tabs, no newline at the end
    text = fix(tabs)
    assert text.startswith('{\n\t"icc": false,\n\t"') and text.endswith("\n}")


def test_compose_layout_round_trips_exactly(real: Path) -> None:
    """Nothing of the input moves: the diff only adds lines (every line kept, in order)."""
    path = real / "compose.formatting.yaml"
    before = path.read_text()
    after = fix(path)
    assert (REAL / "expected" / "compose.formatting.yaml").read_text() == after
    removed = [line for line in diff_lines(before, after) if line.startswith("-")]
    assert removed == []
    assert "x-app-env: &app-env\n" in after  # the anchor no alias uses
    assert "\n\n  # The Node.js app\n  app:\n" in after  # blank line and comment stay above
    assert "\n\n  # Cache\n  cache:\n" in after
    assert "\n\n# End of services\n" in after


def diff_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="")
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_end_of_line_comment_follows_a_moved_secret(real: Path) -> None:
    path = real / "compose.yaml"
    path.write_text(
        "services:\n  db:\n    image: postgres:16\n    environment:\n"
        "      POSTGRES_PASSWORD: example  # change me\n\n  # next\n  cache:\n"
        "    image: redis:7\n"
    )
    text = fix(path)
    assert "POSTGRES_PASSWORD_FILE: /run/secrets/db_postgres_password  # change me\n" in text
    assert "\n\n  # next\n  cache:\n" in text


# ----------------------------------------------------------------- 4. standard diffs


@pytest.mark.parametrize("name", sorted(set(INPUTS) - set(COMPLIANT)))
def test_diff_applies_with_git_apply_and_patch(real: Path, tmp_path: Path, name: str) -> None:
    """--diff is a patch that git apply and patch -p1 apply, giving exactly the written file."""
    proc = tool("--diff", name, cwd=real)
    assert proc.returncode == 0, proc.stderr
    diff = proc.stdout
    assert diff.startswith(f"--- a/{name}\n+++ b/{name}\n@@")
    assert tool(name, cwd=real).returncode == 0
    for apply in (["git", "apply", "--whitespace=nowarn"], ["patch", "-p1", "--quiet"]):
        copy = tmp_path / apply[0]
        shutil.copytree(REAL, copy)
        result = subprocess.run(apply, input=diff, cwd=copy, text=True, capture_output=True)
        assert result.returncode == 0, result.stdout + result.stderr
        assert (copy / name).read_bytes() == (real / name).read_bytes()


def tool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(TOOL), "--no-validate", *args]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)


def test_diff_creates_a_new_ignore_file(real: Path, tmp_path: Path) -> None:
    """A .dockerignore the tool adds comes from /dev/null; a secret's value is never shown."""
    (real / "compose.build.yaml").write_text(
        "services:\n  web:\n    build: .\n    environment:\n      - API_TOKEN=s3cr3t\n"
        "  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: s3cr3t-pg\n"
    )
    diff = tool("--diff", "compose.build.yaml", cwd=real).stdout
    assert "--- /dev/null\n+++ b/.dockerignore\n" in diff
    assert "# secrets/db_postgres_password (new secret file, value not shown)\n" in diff
    assert not [line for line in diff.splitlines() if line.startswith("+") and "s3cr3t" in line]
    copy = tmp_path / "copy"
    shutil.copytree(real, copy)
    for apply in (["git", "apply"], ["patch", "-p1", "--quiet"]):
        (copy / ".dockerignore").unlink(missing_ok=True)
        shutil.copy(real / "compose.build.yaml", copy / "compose.build.yaml")
        result = subprocess.run(apply, input=diff, cwd=copy, text=True, capture_output=True)
        assert result.returncode == 0, result.stdout + result.stderr
    assert tool("compose.build.yaml", cwd=real).returncode == 0
    assert (copy / ".dockerignore").read_text() == (real / ".dockerignore").read_text()
    assert (copy / "compose.build.yaml").read_text() == (real / "compose.build.yaml").read_text()


# ----------------------------------------------------------------- 5. Dockerfiles


def test_alpine_heredoc_dockerfile_gets_user_and_healthcheck(
    real: Path, capsys: pytest.CaptureFixture
) -> None:
    path = real / "alpine-heredoc.Dockerfile"
    assert run("--check", "--no-validate", path) == 2
    assert "unknown base image family" not in capsys.readouterr().err
    text = fix(path)
    assert [u.value for u in final_instructions(text, "USER")] == [("10001:10001",)]
    assert "adduser -S -D -H -u 10001" in text
    (check,) = final_instructions(text, "HEALTHCHECK")
    assert "wget" in check.original and "http://127.0.0.1:8080/" in check.original
    # The heredocs are untouched, the new lines come after the last build step.
    assert "from flask import Flask\n" in text and text.index("USER") > text.index("WORKDIR")


@pytest.mark.parametrize(
    ("name", "client", "user"),
    [
        ("node-slim.Dockerfile", "node", ("node",)),
        ("ruby-slim.Dockerfile", "ruby", ("10001:10001",)),
    ],
)
def test_runtime_http_client_makes_the_healthcheck(
    real: Path, name: str, client: str, user: tuple[str, ...]
) -> None:
    text = fix(real / name)
    (check,) = final_instructions(text, "HEALTHCHECK")
    argv = json.loads(check.original.split("CMD", 1)[1])
    assert argv[0] == client and "http://127.0.0.1:" in argv[-1]
    assert [u.value for u in final_instructions(text, "USER")] == [user]


def test_node_healthcheck_script_works(tmp_path: Path) -> None:
    """The node probe exits 0 on a 200, 1 on a 404 and 1 when nothing listens."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node on this machine")
    (tmp_path / "index.html").write_text("ok\n")
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        port = int(server.stdout.readline().split(" port ")[1].split()[0])  # type: ignore[union-attr]
        for path, expected in (("/", 0), ("/missing", 1)):
            argv = dsf.http_probe("node", f"http://127.0.0.1:{port}{path}")
            assert subprocess.run([node, *argv[1:]], check=False, timeout=20).returncode == expected
    finally:
        server.terminate()
        server.wait(timeout=10)
    argv = dsf.http_probe("node", f"http://127.0.0.1:{port}/")
    assert subprocess.run([node, *argv[1:]], check=False, timeout=20).returncode == 1


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("worker-no-port.Dockerfile", "no EXPOSEd TCP port, so no HEALTHCHECK added: add one"),
        ("jvm.Dockerfile", "the JVM has no one-line HTTP client"),
        ("go-scratch-no-newline.Dockerfile", '`HEALTHCHECK CMD ["/app", "healthcheck"]`'),
    ],
)
def test_no_healthcheck_possible_says_what_to_add(
    real: Path, capsys: pytest.CaptureFixture, name: str, says: str
) -> None:
    path = real / name
    assert run("--check", "--no-validate", path) == 2  # the USER is still missing
    assert says in capsys.readouterr().err
    fix(path)
    assert not final_instructions(path.read_text(), "HEALTHCHECK")
    assert run("--check", "--no-validate", path) == 0
    assert says in capsys.readouterr().err  # said again, also when nothing is left to change


def test_from_takes_arg_defaults() -> None:
    stages = dsf.parse_dockerfile("ARG BASE=node:20-alpine\nFROM ${BASE} AS app\nEXPOSE 80\n")
    assert stages[0].base == "node:20-alpine" and stages[0].alias == "app"
    assert dsf.expand_args("python:${V:-3.12}-slim", {"V": ""}) == "python:3.12-slim"


# ----------------------------------------------------------------- 6. well-known images


def services(text: str) -> dict[str, Any]:
    return load(text)["services"]


def test_wordpress_gets_its_writable_paths_and_root_start_capabilities(real: Path) -> None:
    wordpress = services(fix(real / "compose.wordpress.yaml"))["wordpress"]
    assert {"/var/run/apache2", "/var/lock/apache2", "/tmp"} <= set(wordpress["tmpfs"])
    assert list(wordpress["cap_drop"]) == ["ALL"]
    assert {"CHOWN", "SETGID", "SETUID", "NET_BIND_SERVICE"} <= set(wordpress["cap_add"])
    assert wordpress["read_only"] is True


def test_mongo_starts_as_its_own_user_with_a_data_volume(real: Path) -> None:
    text = fix(real / "compose.mongo.yaml")
    mongo = services(text)["mongo"]
    assert mongo["user"] == "mongodb" and "mongo-data:/data/db" in mongo["volumes"]
    assert "mongosh" in mongo["healthcheck"]["test"][1]
    assert "mongo-data" in load(text)["volumes"]


def test_unknown_image_says_what_the_tool_could_not_know(
    real: Path, capsys: pytest.CaptureFixture
) -> None:
    path = real / "compose.yaml"
    path.write_text("services:\n  app:\n    image: ghcr.io/example/app:1.2\n")
    fix(path)
    err = capsys.readouterr().err
    assert "ghcr.io/example/app:1.2 is not in the tool's table of image needs" in err
    assert "`cap_add: [CHOWN, SETGID, SETUID]` or a non-root `user:`" in err


def test_image_table_is_in_the_readme() -> None:
    readme = (ROOT / "tools" / "README.md").read_text()
    table = readme.split("### Image needs", 1)[1].split("\n\n## ", 1)[0]
    rows = {line.split("|")[1].strip(" `") for line in table.splitlines() if line.startswith("| `")}
    assert rows == set(image_needs.IMAGES)
    for name, family in image_needs.IMAGES.items():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{name}`"))
        for path in family.tmpfs:
            assert path in row, (name, path)
        for cap in family.cap_add:
            assert cap in row, (name, cap)


# ----------------------------------------------------------------- 7. secrets


@pytest.mark.parametrize(
    "name",
    [
        "ME_CONFIG_MONGODB_ADMINPASSWORD",
        "DB_PASSWORD",
        "MYSQLPASSWD",
        "CLIENT_SECRET",
        "GITHUB_TOKEN",
        "AUTHTOKEN",
        "API_KEY",
        "APIKEY",
        "AWS_SECRET_ACCESS_KEY",
        "SECRET_KEY_BASE",
        "PRIVATE_KEY",
        "DB_PASS",
        "smtp-password",
    ],
)
def test_secret_names(name: str) -> None:
    assert dsf.secret_like(name)


@pytest.mark.parametrize(
    "name",
    [
        "KEYCLOAK_URL",
        "KEYSPACE",
        "PUBLIC_KEY",
        "DB_PASSWORD_FILE",
        "TOKENIZERS_PARALLELISM",
        "PASSENGER_APP_ENV",
        "MONKEY_MODE",
        "WORDPRESS_DB_HOST",
    ],
)
def test_not_secret_names(name: str) -> None:
    assert not dsf.secret_like(name)


def test_mongo_express_password_is_moved_to_a_secret(
    real: Path, capsys: pytest.CaptureFixture
) -> None:
    path = real / "compose.mongo.yaml"
    doc = load(fix(path))
    express = doc["services"]["mongo-express"]["environment"]
    assert "ME_CONFIG_MONGODB_ADMINPASSWORD" not in express
    target = express["ME_CONFIG_MONGODB_ADMINPASSWORD_FILE"]
    secret = target.removeprefix("/run/secrets/")
    assert (real / "secrets" / secret).read_text() == "example"
    assert doc["secrets"][secret]["file"] == f"./secrets/{secret}"
    assert doc["services"]["mongo"]["environment"]["MONGO_INITDB_ROOT_PASSWORD_FILE"]
    err = capsys.readouterr().err
    assert "ME_CONFIG_MONGODB_URL holds a password in its URL" in err


def test_file_env_conventions_are_checked(real: Path, capsys: pytest.CaptureFixture) -> None:
    path = real / "compose.yaml"
    path.write_text(
        "services:\n  db:\n    image: postgres:16\n    user: postgres\n    environment:\n"
        "      POSTGRES_PASSWORD_FILE: /run/secrets/pg\n      POSTGRES_PASSWORD: x\n"
        "  cache:\n    image: redis:7\n    environment:\n"
        "      REDIS_PASSWORD_FILE: /run/secrets/redis\n    secrets: [redis]\n"
        "secrets:\n  redis:\n    file: ./redis.txt\n"
    )
    run("--check", "--no-validate", path)
    err = capsys.readouterr().err
    assert "both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are set" in err
    assert "POSTGRES_PASSWORD_FILE reads /run/secrets/pg, but no secret" in err
    assert "redis:7 is not known to read REDIS_PASSWORD_FILE" in err
    assert "REDIS_PASSWORD_FILE reads" not in err  # that secret is mounted


def test_written_compose_files_stay_valid_and_stable(real: Path) -> None:
    """Every real-world compose file, once hardened: a second run changes nothing."""
    for name in (n for n in INPUTS if dsf.kind_of(Path(n)) == "compose"):
        fix(real / name)
        assert run("--check", "--no-validate", real / name) == 0, name
