#!/usr/bin/env python3
"""Audit the app's hash-pinned Python dependencies, or say plainly that nothing could.

scripts/dep_audit.py [REQUIREMENTS]     (make check runs it on files/app/requirements.txt)

pip-audit asks one vulnerability service at a time. This tries PyPI's JSON API, then OSV,
and takes the first that audits every dependency. pip-audit alone exits 0 when a service
answers "not found" for every package (a package-index mirror without PyPI's JSON API does
that), so a run that audited nothing looked like a clean one. Here it fails instead, with
the reason, unless DOCKHARD_OFFLINE_OK=1 says that an unaudited run is accepted.
Exit codes: 0 audited and clean (or offline accepted), 1 vulnerabilities found,
3 no vulnerability source reachable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("pypi", "osv")
OFFLINE_VARIABLE = "DOCKHARD_OFFLINE_OK"
EXIT_VULNERABLE = 1
EXIT_NO_SOURCE = 3


@dataclass(frozen=True)
class Outcome:
    """What one service said about the requirements."""

    service: str
    audited: int = 0
    skipped: int = 0
    vulnerable: tuple[str, ...] = ()
    error: str = ""

    @property
    def complete(self) -> bool:
        return not self.error and self.audited > 0 and self.skipped == 0


def parse_report(service: str, report: dict) -> Outcome:
    """pip-audit's JSON report: a dependency has either vulns or a skip_reason."""
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if "skip_reason" in d]
    vulnerable = tuple(
        f"{d['name']} {d['version']}: {', '.join(v['id'] for v in d['vulns'])}"
        for d in dependencies
        if d.get("vulns")
    )
    return Outcome(service, len(dependencies) - len(skipped), len(skipped), vulnerable)


def audit_with(service: str, requirements: Path) -> Outcome:
    argv = [
        str(Path(sys.executable).parent / "pip-audit"),
        "--disable-pip",
        "--require-hashes",
        "--progress-spinner",
        "off",
        "--format",
        "json",
        "--vulnerability-service",
        service,
        "--requirement",
        str(requirements),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)  # noqa: S603
    try:
        return parse_report(service, json.loads(result.stdout))
    except json.JSONDecodeError:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return Outcome(service, error=last[:300])


def verdict(outcomes: list[Outcome], offline_ok: bool) -> tuple[int, list[str]]:
    """Exit code and the lines to print, from what each service said."""
    for outcome in outcomes:
        if outcome.complete:
            lines = [f"pip-audit ({outcome.service}): {outcome.audited} dependencies audited"]
            if outcome.vulnerable:
                return EXIT_VULNERABLE, [*lines, *(f"  VULNERABLE {v}" for v in outcome.vulnerable)]
            return 0, [*lines, "  no known vulnerabilities"]
    lines = ["no vulnerability source is reachable: the Python dependencies were NOT audited"]
    for o in outcomes:
        why = o.error or f"{o.skipped} of {o.audited + o.skipped} dependencies could not be audited"
        lines.append(f"  {o.service}: {why}")
    if offline_ok:
        return 0, [*lines, f"  accepted because {OFFLINE_VARIABLE}=1"]
    return EXIT_NO_SOURCE, [
        *lines,
        f"  set {OFFLINE_VARIABLE}=1 to accept an unaudited run (no PyPI JSON API, no OSV)",
    ]


def main(argv: list[str]) -> int:
    requirements = Path(argv[0]) if argv else ROOT / "files/app/requirements.txt"
    outcomes: list[Outcome] = []
    for service in SERVICES:
        outcomes.append(audit_with(service, requirements))
        if outcomes[-1].complete:
            break
    code, lines = verdict(outcomes, os.environ.get(OFFLINE_VARIABLE) == "1")
    print("\n".join(lines), file=sys.stdout if code == 0 else sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
