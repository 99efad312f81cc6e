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
import sys
from collections.abc import Callable
from pathlib import Path

from dockerfix.common import DEFAULT_BASELINE, FixError, Options, Outcome, secret_like
from dockerfix.compose import fix_compose, rebind_short_port, restart_ok
from dockerfix.daemon import ENGINE_DEFAULTS, fix_daemon
from dockerfix.dockerfiles import (
    expand_args,
    fix_dockerfile,
    http_probe,
    parse_dockerfile,
    split_image,
)
from dockerfix.files import collect, kind_of, unified_diff, write_atomic, write_secrets

# Re-exported: the parts' main entry points, for tests and for users importing the tool.
__all__ = [
    "DEFAULT_BASELINE",
    "ENGINE_DEFAULTS",
    "FixError",
    "Options",
    "Outcome",
    "expand_args",
    "fix_compose",
    "fix_daemon",
    "fix_dockerfile",
    "http_probe",
    "kind_of",
    "main",
    "parse_dockerfile",
    "rebind_short_port",
    "restart_ok",
    "secret_like",
    "split_image",
    "write_atomic",
]

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
FIXERS: dict[str, Callable[[Path, str, Options], Outcome]] = {
    "daemon": fix_daemon,
    "dockerfile": fix_dockerfile,
    "compose": fix_compose,
}


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
