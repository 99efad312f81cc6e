"""make check's dependency audit: it fails when no vulnerability source answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import dep_audit  # noqa: E402

# Every HTTP(S) request of pip-audit goes to a closed loopback port: no source answers.
UNREACHABLE = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}


def run_audit(offline_ok: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k.lower() not in {"no_proxy", "https_proxy"}}
    env.update(UNREACHABLE)
    env.pop("DOCKHARD_OFFLINE_OK", None)
    if offline_ok is not None:
        env["DOCKHARD_OFFLINE_OK"] = offline_ok
    argv = [sys.executable, "scripts/dep_audit.py", "files/app/requirements.txt"]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("offline_ok", [None, "0"])
def test_no_reachable_source_fails_with_the_reason(offline_ok: str | None) -> None:
    result = run_audit(offline_ok)
    assert result.returncode == dep_audit.EXIT_NO_SOURCE
    assert "NOT audited" in result.stderr
    assert "pypi:" in result.stderr
    assert "osv:" in result.stderr
    assert "DOCKHARD_OFFLINE_OK=1" in result.stderr


def test_offline_ok_accepts_an_unaudited_run_and_says_so() -> None:
    result = run_audit("1")
    assert result.returncode == 0
    assert "NOT audited" in result.stdout
    assert "accepted because DOCKHARD_OFFLINE_OK=1" in result.stdout


def report(*dependencies: dict) -> dict:
    """pip-audit's --format json document."""
    return {"dependencies": list(dependencies), "fixes": []}


CLEAN = {"name": "flask", "version": "3.1.3", "vulns": []}
SKIPPED = {"name": "click", "version": "8.5.1", "skip_reason": "Dependency not found on PyPI"}
VULNERABLE = {
    "name": "jinja2",
    "version": "3.1.2",
    "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"]}],
}


def test_a_mirror_that_knows_no_package_is_not_a_clean_audit() -> None:
    outcome = dep_audit.parse_report("pypi", report(SKIPPED))
    code, lines = dep_audit.verdict([outcome], offline_ok=False)
    assert code == dep_audit.EXIT_NO_SOURCE
    assert "1 of 1 dependencies could not be audited" in "\n".join(lines)


def test_a_partly_audited_run_is_not_complete() -> None:
    outcome = dep_audit.parse_report("pypi", report(CLEAN, SKIPPED))
    assert not outcome.complete


def test_the_first_complete_service_decides() -> None:
    outcomes = [
        dep_audit.Outcome("pypi", error="ConnectionError"),
        dep_audit.parse_report("osv", report(CLEAN, VULNERABLE)),
    ]
    code, lines = dep_audit.verdict(outcomes, offline_ok=True)
    assert code == dep_audit.EXIT_VULNERABLE
    assert "pip-audit (osv): 2 dependencies audited" in lines
    assert "  VULNERABLE jinja2 3.1.2: GHSA-h5c8-rqwp-cp95" in lines


def test_a_clean_complete_audit_passes() -> None:
    code, lines = dep_audit.verdict([dep_audit.parse_report("pypi", report(CLEAN))], False)
    assert code == 0
    assert lines[-1] == "  no known vulnerabilities"
