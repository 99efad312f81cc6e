#!/usr/bin/env python3
"""Harden someone's daemon.json, Dockerfile and compose file (CIS Docker Benchmark v1.6.0).

Usage: docker_security_fixes.py [--check] [--diff] PATH...

PATH is a daemon.json, a Dockerfile, a compose file or a directory holding them. The tool
changes only what is not hardened yet, so a second run changes nothing. It prints what it
changed and what it cannot fix (warnings) on stderr, and a unified diff on stdout with
--diff. Exit codes: 0 nothing (left) to change, 2 changes needed (--check), 1 error.
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dockerfile
from image_needs import CONTAINER_TMP, Family, needs_of, node_tcp_check
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString
from ruamel.yaml.tokens import CommentToken
from ruamel.yaml.util import load_yaml_guess_indent

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
ROLE_FILES = Path(__file__).resolve().parent.parent / "roles" / "docker_daemon" / "files"
DEFAULT_BASELINE = ROLE_FILES / "daemon_baseline.json"
VALIDATOR = ROLE_FILES / "dockerd-validate"

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
SKIP_DIRS = {".git", ".venv", "node_modules", "secrets", "__pycache__"}
# A name holds a secret when one of its words contains one of these (ADMINPASSWORD,
# CLIENT_SECRET, AUTHTOKEN), ends in KEY (API_KEY, APIKEY, SECRETKEY, but not KEYCLOAK_URL
# or KEYSPACE), or is one of SECRET_PARTS; a PUBLIC key or a *_FILE path is no secret.
SECRET_INFIXES = ("PASSWORD", "PASSWD", "SECRET", "TOKEN")
SECRET_PARTS = {"PASS", "PWD", "CREDENTIAL", "CREDENTIALS", "PRIVATE", "KEYS"}
PLAIN_WORDS = {"MONKEY", "DONKEY", "TURKEY", "HOCKEY", "JOCKEY", "WHISKEY", "HOTKEY"}
PLAIN_WORDS |= {"TOKENIZER", "TOKENIZERS"}  # TOKENIZERS_PARALLELISM and the like
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst")
APP_UID = 10001
DISTROLESS_UID = 65532
HEALTH_OPTIONS = "--interval=30s --timeout=5s --start-period=15s --retries=3"


class FixError(Exception):
    """Input the tool cannot process; nothing is written."""


@dataclass
class Options:
    baseline: Path = DEFAULT_BASELINE
    skip_ids: frozenset[str] = frozenset()
    validate: bool = True
    mem_limit: str = "512m"
    cpus: float = 1.0
    cpu_shares: int = 512
    pids_limit: int = 200
    health_path: str = "/"


@dataclass
class Outcome:
    path: Path
    old: str
    new: str
    notes: list[str] = field(default_factory=list)
    extra_files: dict[Path, str] = field(default_factory=dict)
    # Other files to write next to it (old text, new text), e.g. a .dockerignore.
    side_files: dict[Path, tuple[str, str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.old != self.new or bool(self.extra_files) or bool(self.side_files)


# --------------------------------------------------------------------------- helpers


def secret_like(name: str) -> bool:
    """True for variable names that usually hold a secret (DB_PASSWORD, API_KEY, ...)."""
    parts = name.upper().replace("-", "_").split("_")
    if parts[-1] == "FILE" or "PUBLIC" in parts:
        return False
    return any(
        any(word in part for word in SECRET_INFIXES) or part.endswith("KEY") or part in SECRET_PARTS
        for part in parts
        if part not in PLAIN_WORDS
    )


def shell_words(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError:
        return text.split()


def is_loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip in ("::1", "localhost")


# --------------------------------------------------------------------------- daemon.json


def load_baseline(path: Path, skip_ids: frozenset[str]) -> dict[str, dict[str, Any]]:
    """The baseline keys by CIS ID, minus the skipped IDs."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FixError(f"cannot read the baseline {path}: {exc}") from exc
    controls = {cis: keys for cis, keys in data.items() if not cis.startswith("_")}
    unknown = sorted(skip_ids - controls.keys())
    if unknown:
        raise FixError(f"--skip: no such CIS ID in {path}: {', '.join(unknown)}")
    return {cis: keys for cis, keys in controls.items() if cis not in skip_ids}


def _not_in(*bad: str) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and value not in bad


# Keys where another value than the baseline's is hardened too: keep the user's choice.
DAEMON_ACCEPTS: dict[str, Callable[[Any], bool]] = {
    "log-driver": _not_in("", "json-file"),
    "userns-remap": _not_in(""),
    "storage-driver": _not_in("", "aufs"),
}


# Keys whose hardened value is the engine's default: absent is compliant (docker-bench
# passes 2.3, 2.4, 2.5 and 2.18 without them), so a file without them is not rewritten.
ENGINE_DEFAULTS: dict[str, Any] = {
    "log-level": "info",
    "iptables": True,
    "insecure-registries": [],
    "experimental": False,
}


DAEMON_CAVEATS = {
    "userns-remap": "userns-remap moves the data root: existing images, containers and "
    "volumes are no longer visible and bind mounts need the remapped owner (--skip 2.9)",
}


def merged_daemon_value(key: str, current: Any, wanted: Any) -> Any:
    """The value the key should have, given what the user has."""
    if key in DAEMON_ACCEPTS and DAEMON_ACCEPTS[key](current):
        return current
    if isinstance(wanted, dict) and isinstance(current, dict):
        return {**wanted, **current}
    return wanted


def fix_daemon(path: Path, text: str, opts: Options) -> Outcome:
    try:
        current = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise FixError(f"not valid JSON: {exc}") from exc
    if not isinstance(current, dict):
        raise FixError("a daemon.json must hold a JSON object")
    merged = dict(current)
    outcome = Outcome(path, text, text)
    for cis, keys in load_baseline(opts.baseline, opts.skip_ids).items():
        for key, wanted in keys.items():
            if key not in current and ENGINE_DEFAULTS.get(key, ...) == wanted:
                continue
            value = merged_daemon_value(key, current.get(key), wanted)
            if key not in current or current[key] != value:
                merged[key] = value
                outcome.notes.append(f"fixed [{cis}] {key}: {json.dumps(value)}")
                if key in DAEMON_CAVEATS and key not in current:
                    outcome.notes.append(f"warning: [{cis}] {DAEMON_CAVEATS[key]}")
    drop_foreign_log_opts(current, merged, outcome)
    if merged != current:
        ending = "\n" if text.endswith("\n") or not text.strip() else ""
        outcome.new = json.dumps(merged, indent=json_indent(text)) + ending
        validate_daemon(outcome, opts)
    return outcome


# Log options every driver the tool may switch to (journald, from the baseline) accepts;
# the old driver's own ones (json-file's max-size, awslogs-region...) make dockerd refuse
# to start: "unknown log opt 'max-size' for journald log driver".
COMMON_LOG_OPTS = {"tag", "labels", "labels-regex", "env", "env-regex", "mode", "max-buffer-size"}


def drop_foreign_log_opts(current: dict[str, Any], merged: dict[str, Any], out: Outcome) -> None:
    """When the tool changes the log driver, drop the old driver's own log-opts."""
    options = merged.get("log-opts")
    if merged.get("log-driver") == current.get("log-driver") or not isinstance(options, dict):
        return
    foreign = sorted(set(options) - COMMON_LOG_OPTS)
    if not foreign:
        return
    merged["log-opts"] = {k: v for k, v in options.items() if k in COMMON_LOG_OPTS}
    if not merged["log-opts"]:
        del merged["log-opts"]
    old = current.get("log-driver", "json-file")
    out.notes.append(
        f"fixed [2.13] log-opts: {', '.join(foreign)} dropped ({old} options that "
        f"{merged['log-driver']} does not accept)"
    )


def json_indent(text: str) -> str:
    """The indentation unit of a JSON file (its first indented line), two spaces if none."""
    for line in text.splitlines():
        stripped = line.lstrip(" \t")
        if stripped.startswith('"') and stripped != line:
            return line[: len(line) - len(stripped)]
    return "  "


def validate_daemon(outcome: Outcome, opts: Options) -> None:
    """Check the new daemon.json with dockerd (through dockerd-validate) where it exists."""
    if not opts.validate:
        outcome.notes.append("warning: not validated (--no-validate)")
        return
    if shutil.which("dockerd") is None or not VALIDATOR.exists():
        outcome.notes.append("warning: not validated: no dockerd on PATH")
        return
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        handle.write(outcome.new)
    try:
        argv = [sys.executable, str(VALIDATOR), handle.name]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603 - our own script
    finally:
        os.unlink(handle.name)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise FixError(f"dockerd rejects the hardened configuration: {detail}")
    outcome.notes.append("validated with dockerd")


# --------------------------------------------------------------------------- Dockerfile


@dataclass(frozen=True)
class BaseImage:
    family: str  # debian, alpine, distroless, scratch or unknown
    clients: frozenset[str] = frozenset()  # what can make an HTTP request: curl, node...
    nonroot: bool = False
    runtime: str | None = None  # jvm, go: no one-line HTTP client of their own
    user: str | None = None  # a non-root user the image has already


@dataclass
class Stage:
    base: str
    alias: str | None
    instructions: list[dockerfile.Command]


DEBIAN_NAMES = {"debian", "ubuntu", "python", "node", "golang", "ruby", "nginx", "httpd", "php"}
DEBIAN_NAMES |= {"postgres", "mysql", "mariadb", "redis", "openjdk", "eclipse-temurin", "wordpress"}
BUILDPACK_NAMES = {"python", "node", "golang", "ruby", "buildpack-deps"}
CURL_NAMES = {"nginx", "php", "wordpress"}  # they install curl themselves
# The image's own interpreter, which can make an HTTP request without curl or wget.
RUNTIME_CLIENTS = {"python": "python3", "pypy": "python3", "node": "node", "ruby": "ruby"}
RUNTIME_CLIENTS |= {"php": "php", "wordpress": "php"}
RUNTIMES = {"openjdk": "jvm", "eclipse-temurin": "jvm", "amazoncorretto": "jvm", "golang": "go"}
# Packages a RUN installs -> the client they bring.
PACKAGE_CLIENTS = {"curl": "curl", "wget": "wget", "python3": "python3", "nodejs": "node"}
PACKAGE_CLIENTS |= {"ruby": "ruby", "php": "php", "php-cli": "php"}
CLIENT_ORDER = ("curl", "wget", "python3", "node", "ruby", "php")
IMAGE_USERS = {"node": "node"}  # the official node images' own user (uid 1000)


def split_image(ref: str) -> tuple[str, str, str]:
    """(path, last path component, tag) of an image reference."""
    ref = ref.split("@", 1)[0]
    path, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
    return path, path.rsplit("/", 1)[-1], tag


def classify_image(ref: str) -> BaseImage:
    path, name, tag = split_image(ref)
    runtime, user = RUNTIMES.get(name), IMAGE_USERS.get(name)
    own = {RUNTIME_CLIENTS[name]} if name in RUNTIME_CLIENTS else set()
    if ref == "scratch":
        return BaseImage("scratch")
    if "distroless" in path:
        clients = {"python3"} if "python" in name else {"node"} if "nodejs" in name else set()
        return BaseImage("distroless", frozenset(clients), nonroot="nonroot" in tag)
    if "alpine" in name or "alpine" in tag:
        return BaseImage("alpine", frozenset({"wget", *own}), runtime=runtime, user=user)
    if name in DEBIAN_NAMES:
        ships = (name in BUILDPACK_NAMES and "slim" not in tag) or name in CURL_NAMES
        tools = {"curl", "wget"} if ships else set()
        return BaseImage("debian", frozenset(tools | own), runtime=runtime, user=user)
    return BaseImage("unknown", frozenset(own), runtime=runtime)


def instruction(item: dockerfile.Command) -> str:
    return item.cmd.upper()


def parse_dockerfile(text: str) -> list[Stage]:
    """The stages, parsed by BuildKit's own parser (heredocs, continuations, escapes)."""
    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError as exc:
        if "no instructions" in str(exc):
            raise FixError("no FROM instruction: not a Dockerfile") from exc
        raise FixError(f"cannot parse the Dockerfile: {exc}") from exc
    global_args = {}
    stages: list[Stage] = []
    for item in commands:
        if instruction(item) == "FROM":
            words = list(item.value)
            alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(expand_args(words[0], global_args), alias, [item]))
        elif stages:
            stages[-1].instructions.append(item)
        elif instruction(item) == "ARG":
            global_args |= dict(arg_default(word) for word in item.value)
    if not stages:
        raise FixError("no FROM instruction: not a Dockerfile")
    return stages


def arg_default(word: str) -> tuple[str, str]:
    name, _, default = word.partition("=")
    return name, default.strip("\"'")


def expand_args(ref: str, args: dict[str, str]) -> str:
    """FROM's ${NAME}, ${NAME:-default} and $NAME from the ARGs before the first FROM."""
    for name, value in args.items():
        for form in (f"${{{name}}}", f"${name}"):
            ref = ref.replace(form, value)
        start = ref.find(f"${{{name}:-")
        if start >= 0:
            end = ref.index("}", start)
            ref = ref[:start] + (value or ref[start + len(name) + 4 : end]) + ref[end + 1 :]
    return ref


def ancestry(stages: list[Stage]) -> tuple[list[Stage], str]:
    """The final stage and the earlier stages it is built FROM, and the external base."""
    by_alias = {s.alias: s for s in stages if s.alias}
    chain = [stages[-1]]
    while chain[-1].base in by_alias and by_alias[chain[-1].base] not in chain:
        chain.append(by_alias[chain[-1].base])
    return chain, chain[-1].base


def last_value(chain: list[Stage], name: str) -> dockerfile.Command | None:
    for stage in chain:
        found = [i for i in stage.instructions if instruction(i) == name]
        if found:
            return found[-1]
    return None


def run_commands(item: dockerfile.Command) -> Iterable[list[str]]:
    """The shell command lines of one RUN: its heredoc scripts, or its command."""
    if item.json:
        yield list(item.value)
    elif item.heredocs:
        for heredoc in item.heredocs:
            yield from map(shell_words, heredoc.content.replace("\\\n", " ").splitlines())
    else:
        yield shell_words(" ".join(item.value))


def runs(chain: list[Stage]) -> Iterable[list[str]]:
    for stage in chain:
        for item in stage.instructions:
            if instruction(item) == "RUN":
                yield from run_commands(item)


def installed_clients(chain: list[Stage]) -> set[str]:
    clients: set[str] = set()
    for words in runs(chain):
        if {"install", "add"} & set(words):
            clients |= {PACKAGE_CLIENTS[w] for w in words if w in PACKAGE_CLIENTS}
    return clients


USER_OPTS_WITH_ARG = {"-u", "-g", "-G", "-d", "-s", "-c", "-k", "-K", "-e", "-f", "-p", "-h"}
USER_OPTS_WITH_ARG |= {"--uid", "--gid", "--groups", "--home", "--home-dir", "--shell"}
USER_OPTS_WITH_ARG |= {"--comment", "--gecos", "--ingroup", "--skel", "--key", "--root"}


def created_user(chain: list[Stage]) -> str | None:
    """The user a RUN useradd/adduser of the final stage's chain creates, if any."""
    for words in runs(chain):
        for index, word in enumerate(words):
            if word in ("useradd", "adduser"):
                name = first_positional(words[index + 1 :])
                if name:
                    return name
    return None


def first_positional(words: list[str]) -> str | None:
    skip = False
    for word in words:
        if word in ("&&", ";", "||", "|"):
            return None
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = word in USER_OPTS_WITH_ARG
        else:
            return word
    return None


def user_lines(base: BaseImage, chain: list[Stage]) -> tuple[list[str], str]:
    """Lines that create and switch to a non-root user, or a warning."""
    existing = created_user(chain)
    if existing:
        return [f"USER {existing}"], f"USER {existing} (created by a RUN already)"
    if base.user:
        return [f"USER {base.user}"], f"USER {base.user} (the base image's own user)"
    if base.family == "debian":
        create = (
            f"RUN groupadd --system --gid {APP_UID} app \\\n"
            f"    && useradd --system --uid {APP_UID} --gid app --no-create-home"
            " --home-dir /nonexistent --shell /usr/sbin/nologin app"
        )
    elif base.family == "alpine":
        create = (
            f"RUN addgroup -S -g {APP_UID} app \\\n"
            f"    && adduser -S -D -H -u {APP_UID} -G app -h /nonexistent -s /sbin/nologin app"
        )
    elif base.family in ("distroless", "scratch"):
        uid = f"{DISTROLESS_UID}:{DISTROLESS_UID}"
        return [f"USER {uid}"], f"USER {uid} (distroless nonroot, no user created)"
    else:
        return [], (
            "warning: [4.1] unknown base image family: add a non-root user yourself "
            f"(e.g. `USER {APP_UID}:{APP_UID}` after creating it) as the last USER"
        )
    return [create, f"USER {APP_UID}:{APP_UID}"], f"USER {APP_UID}:{APP_UID} (user app created)"


def exposed_port(chain: list[Stage]) -> str | None:
    item = last_value(chain, "EXPOSE")
    if item is None:
        return None
    for word in item.value:
        port, _, proto = word.partition("/")
        if proto in ("", "tcp") and port.isdigit():
            return port
    return None


def http_probe(client: str, url: str) -> list[str]:
    """argv of a request to url with client that fails on an error or an HTTP status >= 400."""
    if client == "curl":
        return ["curl", "-fsS", "-o", "/dev/null", url]
    if client == "wget":
        return ["wget", "-q", "-O", "/dev/null", url]
    if client == "python3":
        return [
            "python3",
            "-c",
            f"import urllib.request; urllib.request.urlopen('{url}', timeout=4)",
        ]
    if client == "node":
        script = (
            f"require('http').get('{url}', (r) => process.exit(r.statusCode < 400 ? 0 : 1))"
            ".on('error', () => process.exit(1))"
        )
        return ["node", "-e", script]
    if client == "ruby":
        return [
            "ruby",
            "-rnet/http",
            "-e",
            f"exit Net::HTTP.get_response(URI('{url}')).code.to_i < 400",
        ]
    return ["php", "-r", f"exit(@file_get_contents('{url}') === false ? 1 : 0);"]


NO_PORT = (
    "warning: [4.6] no EXPOSEd TCP port, so no HEALTHCHECK added: add one yourself, a command "
    'that fails when the service does not work (e.g. `HEALTHCHECK CMD ["/app", "healthcheck"]`), '
    "or EXPOSE the port it serves"
)
NO_CLIENT = (
    "warning: [4.6] no HEALTHCHECK added: the image has no curl, wget, python3, node, ruby or "
    "php{why}: add one yourself, with a client you install or your program's own health "
    'command (e.g. `HEALTHCHECK CMD ["/app", "healthcheck"]`)'
)
RUNTIME_WHY = {"jvm": " (the JVM has no one-line HTTP client)", "go": " (a Go image has none)"}


def healthcheck_line(base: BaseImage, chain: list[Stage], opts: Options) -> tuple[str | None, str]:
    port = exposed_port(chain)
    if port is None:
        return None, NO_PORT
    clients = installed_clients(chain) | base.clients
    client = next((c for c in CLIENT_ORDER if c in clients), None)
    if client is None:
        return None, NO_CLIENT.format(why=RUNTIME_WHY.get(base.runtime or "", ""))
    argv = http_probe(client, f"http://127.0.0.1:{port}{opts.health_path}")
    if base.family == "distroless" and client == "node":
        argv[0] = "/nodejs/bin/node"  # distroless' node is not on PATH
    return (
        f"HEALTHCHECK {HEALTH_OPTIONS} \\\n    CMD {json.dumps(argv)}",
        f"HEALTHCHECK with {client}",
    )


def insertion_line(stage: Stage) -> int:
    """The index after the final stage's last build step (RUN, COPY, ADD, WORKDIR)."""
    steps = [i for i in stage.instructions if instruction(i) in ("RUN", "COPY", "ADD", "WORKDIR")]
    return (steps or stage.instructions[:1])[-1].end_line


def add_source_kind(item: dockerfile.Command) -> str | None:
    """Why an ADD must stay an ADD (remote or archive source), or None for a plain copy."""
    if any(f.startswith(("--checksum", "--keep-git-dir")) for f in item.flags):
        return "remote source"
    sources = list(item.value)[:-1]
    if any("://" in s or s.startswith("git@") for s in sources):
        return "remote source (URL)"
    if any(s.lower().endswith(ARCHIVE_SUFFIXES) for s in sources):
        return "local archive that ADD extracts"
    return None


def fix_adds(stage: Stage, lines: list[str], outcome: Outcome) -> None:
    for item in stage.instructions:
        if instruction(item) != "ADD":
            continue
        number = item.start_line
        reason = add_source_kind(item)
        if reason:
            outcome.notes.append(f"warning: [4.9] line {number}: ADD kept: {reason}")
            continue
        line = lines[number - 1]
        indent = line[: len(line) - len(line.lstrip())]
        keyword = line.lstrip()[:3]
        lines[number - 1] = indent + ("COPY" if keyword.isupper() else "copy") + line.lstrip()[3:]
        outcome.notes.append(f"fixed [4.9] line {number}: ADD -> COPY")


def declared_names(item: dockerfile.Command) -> list[str]:
    if instruction(item) == "ENV":
        return list(item.value[0::2])  # name, value, name, value...
    return [word.split("=", 1)[0] for word in item.value]


def report_secrets(stages: list[Stage], outcome: Outcome) -> None:
    for item in (i for s in stages for i in s.instructions):
        if instruction(item) not in ("ENV", "ARG"):
            continue
        for name in filter(secret_like, declared_names(item)):
            outcome.notes.append(
                f"warning: [4.10] line {item.start_line}: {instruction(item)} {name} "
                "looks like a secret: pass it at run time (secret file, BuildKit --secret)"
            )


def fix_dockerfile(path: Path, text: str, opts: Options) -> Outcome:
    stages = parse_dockerfile(text)
    chain, external = ancestry(stages)
    base = classify_image(external)
    outcome = Outcome(path, text, text)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    fix_adds(stages[-1], lines, outcome)
    report_secrets(stages, outcome)
    block = user_block(base, chain, outcome) + health_block(base, chain, opts, outcome)
    if block:
        at = insertion_line(stages[-1])
        lines[at:at] = [line + "\n" for line in block]
    if any(note.startswith("fixed") for note in outcome.notes):
        outcome.new = "".join(lines)
    return outcome


def user_block(base: BaseImage, chain: list[Stage], outcome: Outcome) -> list[str]:
    user = last_value(chain, "USER")
    if user is not None:
        if user.value[0].split(":")[0] in ("root", "0"):
            outcome.notes.append("warning: [4.1] the final stage runs as root (USER root): left")
        return []
    if base.nonroot:
        return []
    block, note = user_lines(base, chain)
    outcome.notes.append(note if note.startswith("warning") else f"fixed [4.1] {note}")
    return block


def health_block(base: BaseImage, chain: list[Stage], opts: Options, outcome: Outcome) -> list[str]:
    existing = last_value(chain, "HEALTHCHECK")
    if existing is not None:
        if existing.value[0].upper() == "NONE":
            outcome.notes.append("warning: [4.6] HEALTHCHECK NONE: left")
        return []
    line, note = healthcheck_line(base, chain, opts)
    outcome.notes.append(note if line is None else f"fixed [4.6] {note}")
    return [line] if line else []


# --------------------------------------------------------------------------- compose


@dataclass
class ComposeContext:
    opts: Options
    doc: CommentedMap
    folder: Path
    outcome: Outcome
    changed: bool = False

    def fix(self, service: str, message: str) -> None:
        self.changed = True
        self.outcome.notes.append(f"fixed {service}: {message}")

    def warn(self, service: str, message: str) -> None:
        self.outcome.notes.append(f"warning: {service}: {message}")


def flow(items: Iterable[Any]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def quoted_like(original: Any, text: str) -> str:
    if isinstance(original, SingleQuotedScalarString):
        return SingleQuotedScalarString(text)
    return DoubleQuotedScalarString(text)


def mapping_indent(text: str) -> int:
    """The indentation of the first nested mapping key (layout only, the data comes from YAML)."""
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped and line != stripped and not stripped.startswith(("#", "-")):
            return len(line) - len(stripped)
    return 2


def has_document_start(text: str) -> bool:
    lines = [line.strip() for line in text.splitlines()]
    return next((line for line in lines if line and not line.startswith("#")), "") == "---"


def document_prelude(text: str) -> str:
    """The comments and blank lines before `---`, which ruamel.yaml drops when it dumps."""
    prelude = []
    for line in text.splitlines(keepends=True):
        if line.strip() == "---":
            return "".join(prelude)
        prelude.append(line)
    return ""


def make_yaml(text: str) -> tuple[YAML, Any]:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    try:
        _, sequence, offset = load_yaml_guess_indent(text)
        data = yaml.load(text)
    except YAMLError as exc:
        raise FixError(f"not valid YAML: {exc}") from exc
    mapping = mapping_indent(text)
    if offset is None:  # no block sequence yet: the usual compose layout, "- " under the key
        sequence, offset = mapping + 2, mapping
    yaml.indent(mapping=mapping, sequence=max(sequence or 2, offset + 2), offset=offset)
    yaml.explicit_start = has_document_start(text)
    keep_anchors(data)
    return yaml, data


def keep_anchors(node: Any, seen: set[int] | None = None) -> None:
    """Dump every anchor the input has, also one no alias uses (`x-env: &app-env`)."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    anchor = getattr(node, "anchor", None)
    if anchor is not None and anchor.value:
        node.yaml_set_anchor(anchor.value, always_dump=True)
    if isinstance(node, CommentedMap):
        for value in node.values():
            keep_anchors(value, seen)
    elif isinstance(node, CommentedSeq):
        for value in node:
            keep_anchors(value, seen)


def split_trailing(token: CommentToken) -> tuple[CommentToken | None, CommentToken | None]:
    """(the end-of-line comment, the blank and comment lines below) of an entry's token.

    The lines below an entry's last value (a blank line, `# The database` above the next
    service) come with that value's token; hardening adds keys after it, so they must move
    to the new last entry to stay where they were.
    """
    value = token.value
    if value.startswith("#"):
        eol, _, rest = value.partition("\n")
        head = CommentToken(eol + "\n", token.start_mark, token.end_mark, token.column)
    else:
        head, rest = None, value[1:] if value.startswith("\n") else value
    if not rest:
        return token, None
    return head, CommentToken("\n" + rest, token.start_mark, None)


def own_keys(node: CommentedMap) -> set[Any]:
    """The keys written in this mapping, not those merged in with `<<: *anchor`."""
    return getattr(node, "_ok", set(node))  # ruamel keeps them there; no public accessor


def last_slot(node: Any) -> tuple[Any, Any, int] | None:
    """(container, key, index in its comment slot) of the node's last entry."""
    if isinstance(node, CommentedMap):
        own = [key for key in node if key in own_keys(node)]
        return (node, own[-1], 2) if own else None
    if isinstance(node, CommentedSeq) and node:
        return node, len(node) - 1, 0
    return None


def is_alias(container: Any, key: Any) -> bool:
    """True when container[key] is `*name`: the node is written (and commented) elsewhere."""
    child = container[key]
    if not isinstance(child, (CommentedMap, CommentedSeq)) or child.lc.line is None:
        return False
    position = container.lc.key(key) if isinstance(container, CommentedMap) else None
    if isinstance(container, CommentedSeq):
        position = container.lc.item(key)
    return position is not None and position[0] is not None and child.lc.line < position[0]


def pop_trailing_gap(node: Any) -> CommentToken | None:
    """Take the lines below a mapping (they belong to its deepest last entry's token)."""
    slot = last_slot(node)
    if slot is None:
        return None
    container, key, index = slot
    comment = container.ca.items.get(key)
    if comment and len(comment) > index and isinstance(comment[index], CommentToken):
        comment[index], below = split_trailing(comment[index])
        return below
    return None if is_alias(container, key) else pop_trailing_gap(container[key])


def is_block(node: Any) -> bool:
    return (
        isinstance(node, (CommentedMap, CommentedSeq)) and bool(node) and not node.fa.flow_style()
    )


def put_trailing_gap(node: Any, token: CommentToken) -> None:
    container, key, index = last_slot(node)  # type: ignore[misc]
    if is_block(container[key]) and not is_alias(container, key):
        put_trailing_gap(container[key], token)
        return
    comment = container.ca.items.setdefault(key, [None, None, None, None])
    comment[index] = token


def fix_compose(path: Path, text: str, opts: Options) -> Outcome:
    yaml, doc = make_yaml(text)
    services = doc.get("services") if isinstance(doc, CommentedMap) else None
    if not isinstance(services, CommentedMap):
        raise FixError("no `services:` mapping: not a compose file")
    outcome = Outcome(path, text, text)
    ctx = ComposeContext(opts, doc, path.parent, outcome)
    for name, service in services.items():
        if not isinstance(service, CommentedMap):
            raise FixError(f"service {name} is not a mapping")
        gap = pop_trailing_gap(service)
        harden_service(ctx, str(name), service)
        if gap is not None:
            put_trailing_gap(service, gap)
    keep_secrets_out_of_builds(ctx, services)
    if ctx.changed:
        buffer = io.StringIO()
        yaml.dump(doc, buffer)
        outcome.new = buffer.getvalue()
        if yaml.explicit_start:
            outcome.new = document_prelude(text) + outcome.new
    return outcome


def family_of(service: CommentedMap) -> tuple[str | None, Family]:
    image = service.get("image")
    if not isinstance(image, str) or "${" in image:
        return None, Family()
    return image, needs_of(split_image(image)[1])


def harden_service(ctx: ComposeContext, name: str, service: CommentedMap) -> None:
    image, family = family_of(service)
    report_dangers(ctx, name, service)
    set_user(ctx, name, service, family)
    set_read_only(ctx, name, service, family)
    set_data_volume(ctx, name, service, family)
    set_caps(ctx, name, service, family)
    set_security_opt(ctx, name, service)
    set_limits(ctx, name, service)
    set_restart(ctx, name, service)
    set_healthcheck(ctx, name, service, family, image)
    rebind_ports(ctx, name, service)
    move_env_secrets(ctx, name, service, family, image)
    check_file_env(ctx, name, service, family, image)
    report_unknown_image(ctx, name, service, family, image)


def report_unknown_image(
    ctx: ComposeContext, name: str, service: CommentedMap, family: Family, image: str | None
) -> None:
    """What the tool cannot know about an image outside its table (tools/image_needs.py)."""
    if family.known or "build" in service:
        return
    what = f"the image {image}" if image else "an image named by a variable"
    ctx.warn(name, f"{what} is not in the tool's table of image needs, so check: if it "
             "starts as root and drops privileges itself (gosu, su-exec, apache, nginx), add "
             "`cap_add: [CHOWN, SETGID, SETUID]` or a non-root `user:`; if it writes outside "
             f"{CONTAINER_TMP}, add those paths to `tmpfs:` or `volumes:`")  # fmt: skip


def report_dangers(ctx: ComposeContext, name: str, service: CommentedMap) -> None:
    if service.get("privileged") is True:
        ctx.warn(name, "[5.5] privileged: true: left, remove it")
    for key in ("network_mode", "pid", "ipc", "uts", "userns_mode"):
        if service.get(key) == "host":
            ctx.warn(name, f"{key}: host shares a host namespace: left")
    if any("docker.sock" in str(v) for v in service.get("volumes") or []):
        ctx.warn(name, "[5.32] mounts the Docker socket: left, remove it")


def set_user(ctx: ComposeContext, name: str, service: CommentedMap, family: Family) -> None:
    if family.user and "user" not in service:
        service["user"] = family.user
        ctx.fix(name, f"[4.1] user: {family.user} (the image's entrypoint supports it)")
        bind = family.data_dir and bind_source(service, family.data_dir)
        if bind:
            ctx.warn(name, f"{bind} is bind-mounted on {family.data_dir}: it must be "
                     f"writable by the image's user {family.user}")  # fmt: skip


def bind_source(service: CommentedMap, target: str) -> str | None:
    """The host path bind-mounted on target (short syntax), if any."""
    for volume in service.get("volumes") or []:
        parts = str(volume).split(":")
        if len(parts) > 1 and parts[1] == target and parts[0].startswith((".", "/", "~")):
            return parts[0]
    return None


def set_read_only(ctx: ComposeContext, name: str, service: CommentedMap, family: Family) -> None:
    if "read_only" not in service:
        service["read_only"] = True
        ctx.fix(name, "[5.13] read_only: true")
    if service["read_only"] is not True:
        ctx.warn(name, "[5.13] read_only is set to false: left")
        return
    mounted = mount_targets(service)
    tmpfs = service.get("tmpfs")
    entries = [tmpfs] if isinstance(tmpfs, str) else list(tmpfs or [])
    present = mounted | {str(e).split(":", 1)[0] for e in entries}
    missing = [p for p in family.tmpfs if p not in present]
    if not missing:
        return
    if isinstance(tmpfs, CommentedSeq):
        tmpfs.extend(missing)
    else:
        service["tmpfs"] = CommentedSeq(entries + missing)
    ctx.fix(name, f"tmpfs for {', '.join(missing)} (writable paths on a read-only root)")


def mount_targets(service: CommentedMap) -> set[str]:
    targets = set()
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            targets.add(str(volume.get("target", "")))
        else:
            parts = str(volume).split(":")
            targets.add(parts[1] if len(parts) > 1 else parts[0])
    return targets


def set_data_volume(ctx: ComposeContext, name: str, service: CommentedMap, family: Family) -> None:
    data_dir = family.data_dir
    env = environment_items(service.get("environment"))
    data_dir = env.get("PGDATA", data_dir) if family is needs_of("postgres") else data_dir
    if not data_dir or data_dir in mount_targets(service):
        return
    volume = f"{name}-data"
    volumes = service.get("volumes")
    if not isinstance(volumes, CommentedSeq):
        volumes = service["volumes"] = CommentedSeq()
    volumes.append(f"{volume}:{data_dir}")
    top = ctx.doc.get("volumes")
    if not isinstance(top, CommentedMap):
        top = ctx.doc["volumes"] = CommentedMap()
    top.setdefault(volume, None)
    ctx.fix(name, f"named volume {volume} for its data dir {data_dir}")


def set_caps(ctx: ComposeContext, name: str, service: CommentedMap, family: Family) -> None:
    caps = service.get("cap_drop")
    if caps is None:
        service["cap_drop"] = flow(["ALL"])
        ctx.fix(name, "[5.4] cap_drop: [ALL]")
    elif "ALL" not in [str(c).upper() for c in caps]:
        caps.append("ALL")
        ctx.fix(name, "[5.4] cap_drop: ALL added")
    if family.cap_add and "cap_add" not in service:
        service["cap_add"] = flow(family.cap_add)
        ctx.fix(name, f"cap_add: {', '.join(family.cap_add)} (what the image needs to start)")


def set_security_opt(ctx: ComposeContext, name: str, service: CommentedMap) -> None:
    opts = service.get("security_opt")
    wanted = "no-new-privileges:true"
    if opts is None:
        service["security_opt"] = flow([DoubleQuotedScalarString(wanted)])
    elif any(str(o).replace("=", ":").startswith("no-new-privileges") for o in opts):
        if any(str(o).replace("=", ":") == "no-new-privileges:false" for o in opts):
            ctx.warn(name, "[5.26] no-new-privileges:false: left")
        return
    else:
        opts.append(DoubleQuotedScalarString(wanted))
    ctx.fix(name, f"[5.26] security_opt: {wanted}")


def set_limits(ctx: ComposeContext, name: str, service: CommentedMap) -> None:
    deploy = service.get("deploy") or {}
    limits = (deploy.get("resources") or {}).get("limits") or {}
    wanted = {
        "mem_limit": ("memory", ctx.opts.mem_limit, "5.11"),
        "cpus": ("cpus", ctx.opts.cpus, "5.12"),
        "cpu_shares": ("", ctx.opts.cpu_shares, "5.12"),
        "pids_limit": ("pids", ctx.opts.pids_limit, "5.29"),
    }
    for key, (deploy_key, value, cis) in wanted.items():
        if key not in service and deploy_key not in limits:
            service[key] = value
            ctx.fix(name, f"[{cis}] {key}: {value}")


def set_restart(ctx: ComposeContext, name: str, service: CommentedMap) -> None:
    policy = str(service.get("restart", ""))
    if policy == "no" or restart_ok(policy):
        return
    service["restart"] = "on-failure:5"
    ctx.fix(name, f"[5.15] restart: on-failure:5 (was {policy or 'unset'})")


def restart_ok(policy: str) -> bool:
    kind, _, count = policy.partition(":")
    return kind == "on-failure" and count.isdigit() and 0 < int(count) <= 5


def set_healthcheck(
    ctx: ComposeContext, name: str, service: CommentedMap, family: Family, image: str | None
) -> None:
    if "healthcheck" in service:
        return
    test = family.healthcheck
    port = container_port(service)
    if not test and family.node_probe and port:
        test = node_tcp_check(port)
    if not test:
        where = "its Dockerfile" if "build" in service else f"the image {image or '?'}"
        ctx.warn(name, f"[5.27] no known health check: make sure {where} has a HEALTHCHECK, "
                 "or add a `healthcheck:` whose test fails when the service is down")  # fmt: skip
        return
    check = CommentedMap()
    check["test"] = flow(DoubleQuotedScalarString(word) for word in test)
    check.update({"interval": "30s", "timeout": "5s", "retries": 3, "start_period": "30s"})
    service["healthcheck"] = check
    ctx.fix(name, f"[5.27] healthcheck: {' '.join(test[1:])}")


def container_port(service: CommentedMap) -> int | None:
    """The first TCP port the service publishes or exposes, inside the container."""
    for entry in [*(service.get("ports") or []), *(service.get("expose") or [])]:
        if isinstance(entry, dict):
            spec, proto = str(entry.get("target", "")), str(entry.get("protocol", "tcp"))
        else:
            spec, _, proto = str(entry).partition("/")
        port = spec.rsplit(":", 1)[-1].split("-")[0]
        if port.isdigit() and proto in ("", "tcp"):
            return int(port)
    return None


# ----- ports


def rebind_ports(ctx: ComposeContext, name: str, service: CommentedMap) -> None:
    ports = service.get("ports")
    if not isinstance(ports, list):
        return
    for index, entry in enumerate(ports):
        if isinstance(entry, dict):
            rebind_long_port(ctx, name, entry)
            continue
        new = rebind_short_port(str(entry))
        if new is None:
            if "${" in str(entry):
                ctx.warn(name, f"[5.14] port {entry} uses a variable: check its host address")
            continue
        ports[index] = quoted_like(entry, new)
        ctx.fix(name, f"[5.14] port {entry} -> {new}")


def loopback_for(ip: str | None) -> str | None:
    """The loopback address a published port should use, or None to keep it."""
    if ip and is_loopback(ip):
        return None
    return "::1" if ip in ("::", "[::]") else "127.0.0.1"


def rebind_short_port(spec: str) -> str | None:
    if "${" in spec:
        return None
    body, slash, proto = spec.partition("/")
    if body.startswith("["):
        ip, _, rest = body[1:].partition("]:")
    else:
        parts = body.split(":")
        if len(parts) > 3:
            return None
        ip = parts[0] if len(parts) == 3 else None
        rest = ":".join(parts[1:] if len(parts) == 3 else parts)
    new_ip = loopback_for(ip)
    if new_ip is None:
        return None
    if ":" not in rest:
        rest = ":" + rest
    host_ip = f"[{new_ip}]" if ":" in new_ip else new_ip
    return f"{host_ip}:{rest}{slash}{proto}"


def rebind_long_port(ctx: ComposeContext, name: str, entry: dict[str, Any]) -> None:
    current = entry.get("host_ip")
    new_ip = loopback_for(str(current) if current else None)
    if new_ip is None:
        return
    entry["host_ip"] = new_ip
    ctx.fix(name, f"[5.14] port {entry.get('target')}: host_ip {current or 'unset'} -> {new_ip}")


# ----- environment secrets


def environment_items(env: Any) -> dict[str, str | None]:
    if isinstance(env, dict):
        return {str(k): None if v is None else str(v) for k, v in env.items()}
    items: dict[str, str | None] = {}
    for entry in env or []:
        key, sep, value = str(entry).partition("=")
        items[key] = value if sep else None
    return items


def move_env_secrets(
    ctx: ComposeContext, name: str, service: CommentedMap, family: Family, image: str | None
) -> None:
    env = service.get("environment")
    items = environment_items(env)
    for key, value in items.items():
        if value and url_password(value):
            ctx.warn(name, f"[4.10] {key} holds a password in its URL: move it to a secret file")
        if not secret_like(key) or f"{key}_FILE" in items:  # check_file_env reports both
            continue
        if not value or "${" in value:
            source = "the shell environment" if value is None else "an interpolated variable"
            ctx.warn(name, f"[4.10] {key} comes from {source}: prefer a secret file")
        elif family.reads_file(key):
            move_one_secret(ctx, name, service, key, value)
        else:
            ctx.warn(name, f"[4.10] {key} is a plain-text secret and {image or 'the image'} "
                     f"is not known to read {key}_FILE: move it to a secret yourself")  # fmt: skip


def check_file_env(
    ctx: ComposeContext, name: str, service: CommentedMap, family: Family, image: str | None
) -> None:
    """The official images' NAME_FILE convention: one of the two, a secret that is mounted."""
    env = environment_items(service.get("environment"))
    mounted = secret_targets(service)
    for key, value in env.items():
        if not key.endswith("_FILE") or not value:
            continue
        plain = key.removesuffix("_FILE")
        if plain in env:
            ctx.warn(name, f"[4.10] both {plain} and {key} are set: the official entrypoints "
                     f"refuse that; remove {plain}")  # fmt: skip
        if value.startswith("/run/secrets/") and value not in mounted:
            ctx.warn(name, f"[4.10] {key} reads {value}, but no secret of the service is "
                     "mounted there: add it to the service's `secrets:`")  # fmt: skip
        if family.known and secret_like(plain) and not family.reads_file(plain):
            ctx.warn(name, f"[4.10] {image} is not known to read {key}: check its documentation")


def secret_targets(service: CommentedMap) -> set[str]:
    targets = set()
    for ref in service.get("secrets") or []:
        target = str(ref.get("target") or ref.get("source")) if isinstance(ref, dict) else str(ref)
        targets.add(target if target.startswith("/") else f"/run/secrets/{target}")
    return targets


def url_password(value: str) -> bool:
    """True for scheme://user:password@host values (a password that is no interpolation)."""
    scheme, sep, rest = value.partition("://")
    userinfo = rest.split("/", 1)[0].rpartition("@")[0]
    password = userinfo.partition(":")[2]
    return bool(sep and scheme and password and not password.startswith("$"))


def move_one_secret(
    ctx: ComposeContext, name: str, service: CommentedMap, key: str, value: str
) -> None:
    secret = f"{name}_{key.lower()}".replace("-", "_")
    target = f"/run/secrets/{secret}"
    file = ctx.folder / "secrets" / secret
    if file.exists() and file.read_text(encoding="utf-8") != value:
        raise FixError(f"{file} exists with another value: refusing to overwrite it")
    ctx.outcome.extra_files[file] = value
    rename_env(service["environment"], key, f"{key}_FILE", target)
    refs = service.get("secrets")
    if not isinstance(refs, CommentedSeq):
        refs = service["secrets"] = CommentedSeq()
    if secret not in [r.get("source") if isinstance(r, dict) else r for r in refs]:
        refs.append(secret)
    top = ctx.doc.get("secrets")
    if not isinstance(top, CommentedMap):
        top = ctx.doc["secrets"] = CommentedMap()
    entry = CommentedMap()
    entry["file"] = f"./secrets/{secret}"
    top.setdefault(secret, entry)
    ctx.fix(name, f"[4.10] {key} moved to secret {secret} ({key}_FILE={target})")


def keep_secrets_out_of_builds(ctx: ComposeContext, services: CommentedMap) -> None:
    """Add the secrets directory to the .dockerignore of every build context holding it.

    A `build: .` next to the compose file would otherwise COPY the secret files into
    the image (CIS 4.10).
    """
    secrets = (ctx.folder / "secrets").resolve()
    if not (ctx.outcome.extra_files or secrets.is_dir()):
        return
    for name, service in services.items():
        build = service.get("build")
        context = build.get("context", ".") if isinstance(build, dict) else build
        if not isinstance(context, str) or "://" in context or "${" in context:
            continue
        root = (ctx.folder / context).resolve()
        if not secrets.is_relative_to(root):
            continue
        dockerfile = build.get("dockerfile") if isinstance(build, dict) else None
        ignore = dockerignore_path(root, dockerfile)
        add_ignore_line(ctx, str(name), ignore, secrets.relative_to(root).as_posix())


def dockerignore_path(context: Path, dockerfile: Any) -> Path:
    """The ignore file the builder reads: <Dockerfile>.dockerignore if it exists."""
    if isinstance(dockerfile, str):
        own = (context / dockerfile).with_name(Path(dockerfile).name + ".dockerignore")
        if own.exists():
            return own
    return context / ".dockerignore"


def add_ignore_line(ctx: ComposeContext, name: str, ignore: Path, pattern: str) -> None:
    pending = ctx.outcome.side_files.get(ignore)
    old = ignore.read_text(encoding="utf-8") if ignore.exists() else ""
    current = pending[1] if pending else old
    patterns = {line.strip().strip("/") for line in current.splitlines()}
    if pattern in patterns or {"*", "**"} & patterns:
        return
    separator = "" if not current or current.endswith("\n") else "\n"
    new = f"{current}{separator}# Secret files (docker_security_fixes.py): never in an image.\n"
    ctx.outcome.side_files[ignore] = (old, f"{new}{pattern}/\n")
    # A note, not ctx.fix: the compose file itself need not be dumped again for this.
    ctx.outcome.notes.append(f"fixed {name}: [4.10] {ignore}: {pattern}/ kept out of the build")


def rename_env(env: Any, key: str, new_key: str, value: str) -> None:
    if isinstance(env, CommentedMap):
        position = list(env.keys()).index(key)
        comment = env.ca.items.pop(key, None)
        env.pop(key)
        env.insert(position, new_key, value)
        if comment is not None:  # `PASSWORD: x  # note` keeps its note
            env.ca.items[new_key] = comment
            token = comment[2] if len(comment) > 2 else None
            if isinstance(token, CommentToken) and token.value.startswith("#"):
                # The longer line passes the note's old column: keep two spaces before it.
                token.value = " " + token.value
        return
    for index, entry in enumerate(env):
        if str(entry).partition("=")[0] == key:
            env[index] = f"{new_key}={value}"


# --------------------------------------------------------------------------- files


FIXERS: dict[str, Callable[[Path, str, Options], Outcome]] = {
    "daemon": fix_daemon,
    "dockerfile": fix_dockerfile,
    "compose": fix_compose,
}


def kind_of(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".bak") or name.startswith("."):
        return None
    if name == "daemon.json" or name.endswith(".json"):
        return "daemon"
    if name in COMPOSE_NAMES or name.startswith(("compose.", "docker-compose.")):
        return "compose" if name.endswith((".yml", ".yaml")) else None
    if name == "dockerfile" or name.startswith("dockerfile.") or name.endswith(".dockerfile"):
        return "dockerfile"
    return None


def collect(paths: list[Path], forced: str | None) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            found += [(p, k) for p in walk(path) if (k := kind_of(p)) and not p.is_dir()]
        elif path.is_file():
            yaml_suffix = path.suffix in (".yml", ".yaml")
            kind = forced or kind_of(path) or ("compose" if yaml_suffix else None)
            if kind is None:
                raise FixError(f"{path}: cannot tell what it is: use --kind")
            found.append((path, kind))
        else:
            raise FixError(f"{path}: no such file or directory")
    return found


def walk(folder: Path) -> Iterable[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        yield from (Path(root) / f for f in sorted(files))


def backup_name(path: Path) -> Path:
    return path.with_name(f"{path.name}.{time.strftime('%Y%m%d%H%M%S')}.bak")


def write_atomic(path: Path, text: str, mode: int | None = None, backup: bool = True) -> None:
    """Write through a temporary file in the same directory and rename it over the target."""
    old = path.stat() if path.exists() else None
    if old is not None and backup:
        shutil.copy2(path, backup_name(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode if mode is not None else (old.st_mode & 0o7777 if old else 0o644))
        if old is not None and os.geteuid() == 0:
            os.chown(tmp, old.st_uid, old.st_gid)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_secrets(files: dict[Path, str]) -> None:
    """Secret files in a 0700 dir; 0644 so a container user (remapped or not) can read them."""
    for path, value in files.items():
        path.parent.mkdir(mode=0o700, exist_ok=True)
        os.chmod(path.parent, 0o700)
        ignore = path.parent / ".gitignore"
        if not ignore.exists():
            write_atomic(ignore, "*\n", backup=False)
        write_atomic(path, value, mode=0o644, backup=False)


def patch_name(path: Path) -> str:
    """The path as `git apply` and `patch -p1` read it: relative to here, or to / (as git)."""
    relative = Path(os.path.relpath(path)).as_posix()
    return relative if not relative.startswith("..") else path.resolve().as_posix().lstrip("/")


def file_diff(path: Path, old: str, new: str) -> str:
    """A unified diff with git's a/ and b/ prefixes (a new file comes from /dev/null)."""
    name = patch_name(path)
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile="/dev/null" if not old and not path.exists() else f"a/{name}",
        tofile=f"b/{name}",
    )
    # A last line without a newline needs the marker, or the patch does not apply.
    return "".join(
        line if line.endswith("\n") else f"{line}\n\\ No newline at end of file\n" for line in lines
    )


def unified_diff(outcome: Outcome) -> str:
    text = file_diff(outcome.path, outcome.old, outcome.new)
    for path, (old, new) in outcome.side_files.items():
        text += file_diff(path, old, new)
    for path in outcome.extra_files:
        # Not a diff line (the value stays out of the output): patch tools skip it.
        text += f"# {patch_name(path)} (new secret file, value not shown)\n"
    return text


# --------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Harden a daemon.json, Dockerfile or compose file (CIS Docker Benchmark "
        "v1.6.0). Default: write the files (with a backup)."
    )
    parser.add_argument("paths", nargs="+", type=Path, help="files or project directories")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 2 if changes needed"
    )
    parser.add_argument("--diff", action="store_true", help="print a unified diff; write nothing")
    parser.add_argument("--kind", choices=sorted(FIXERS), help="what PATH is (default: by name)")
    parser.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE, help="daemon baseline")
    parser.add_argument("--skip", default="", help="CIS IDs of the baseline to leave out: 2.9,2.13")
    parser.add_argument("--no-validate", action="store_true", help="do not run dockerd-validate")
    parser.add_argument("--mem-limit", default="512m", help="compose mem_limit (default 512m)")
    parser.add_argument("--cpus", type=float, default=1.0, help="compose cpus (default 1.0)")
    parser.add_argument("--cpu-shares", type=int, default=512, help="compose cpu_shares (512)")
    parser.add_argument("--pids-limit", type=int, default=200, help="compose pids_limit (200)")
    parser.add_argument("--health-path", default="/", help="HTTP path of added HEALTHCHECKs")
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> Options:
    return Options(
        baseline=args.baseline,
        skip_ids=frozenset(s.strip() for s in args.skip.split(",") if s.strip()),
        validate=not args.no_validate,
        mem_limit=args.mem_limit,
        cpus=args.cpus,
        cpu_shares=args.cpu_shares,
        pids_limit=args.pids_limit,
        health_path=args.health_path,
    )


def compute(targets: list[tuple[Path, str]], opts: Options) -> list[Outcome]:
    outcomes = []
    for path, kind in targets:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise FixError(f"{path}: cannot read: {exc}") from exc
        try:
            outcomes.append(FIXERS[kind](path, text, opts))
        except FixError as exc:
            raise FixError(f"{path}: {exc}") from exc
    return outcomes


def write_all(outcomes: list[Outcome]) -> bool:
    for outcome in (o for o in outcomes if o.changed):
        try:
            write_secrets(outcome.extra_files)
            for path, (_, text) in outcome.side_files.items():
                write_atomic(path, text)
            if outcome.new != outcome.old:
                write_atomic(outcome.path, outcome.new)
        except OSError as exc:
            print(f"error: {outcome.path}: cannot write: {exc}", file=sys.stderr)
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        outcomes = compute(collect(args.paths, args.kind), options_from(args))
    except FixError as exc:
        print(f"error: {exc} (nothing written)", file=sys.stderr)
        return EXIT_ERROR
    for outcome in outcomes:
        for note in outcome.notes:
            print(f"{outcome.path}: {note}", file=sys.stderr)
        if args.diff and outcome.changed:
            sys.stdout.write(unified_diff(outcome))
    if not (args.check or args.diff) and not write_all(outcomes):
        return EXIT_ERROR
    if args.check and any(o.changed for o in outcomes):
        return EXIT_CHANGES
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
