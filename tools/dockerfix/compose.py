"""Compose files (CIS 4.1, 4.10, 5.x), edited in a ruamel.yaml round trip."""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString
from ruamel.yaml.tokens import CommentToken
from ruamel.yaml.util import load_yaml_guess_indent

from dockerfix.common import FixError, Options, Outcome, is_loopback, secret_like
from dockerfix.dockerfiles import split_image
from dockerfix.images import CONTAINER_TMP, Family, needs_of, node_tcp_check

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
    """What the tool cannot know about an image outside its table (tools/dockerfix/images.py)."""
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
    if restart_ok(policy):
        return
    service["restart"] = "on-failure:5"
    ctx.fix(name, f"[5.15] restart: on-failure:5 (was {policy or 'unset'})")


def restart_ok(policy: str) -> bool:
    """CIS 5.15 as docker-bench and the compliance audit read it: on-failure, at most
    and exactly 5 retries (one criterion for the tool, the audit and the tests)."""
    return policy == "on-failure:5"


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
