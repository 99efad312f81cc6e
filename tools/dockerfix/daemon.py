"""daemon.json (CIS 2.x): the role's baseline merged in, validated by dockerd."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dockerfix.common import VALIDATOR, FixError, Options, Outcome

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
