"""Dockerfiles (CIS 4.1, 4.6, 4.9, 4.10), read with BuildKit's own parser."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import dockerfile

from dockerfix.common import (
    APP_UID,
    ARCHIVE_SUFFIXES,
    DISTROLESS_UID,
    HEALTH_OPTIONS,
    FixError,
    Options,
    Outcome,
    secret_like,
    shell_words,
)

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
