"""The read-only compliance audit (playbooks/audit.yml) of a converged, untouched host."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import jsonschema
import pytest
import yaml
from app_stack import SECRETS_DIR
from conftest import REPORT_DIR, ROOT, audit_report, host_name, run_playbook

CATALOG = yaml.safe_load((ROOT / "catalog" / "controls.yml").read_text())
SCHEMA = json.loads((ROOT / "catalog" / "report.schema.json").read_text())


@pytest.fixture(scope="module")
def report(host) -> dict:
    return audit_report(host)


def test_audit_report_validates_against_the_schema(report):
    jsonschema.validate(report, SCHEMA)
    assert report["benchmark"]["version"] == CATALOG["benchmark"]["version"] == "1.6.0"
    assert [c["id"] for c in report["controls"]] == [c["id"] for c in CATALOG["controls"]]


def test_audit_of_converged_host_has_no_fail(report):
    failing = {c["id"]: c["evidence"] for c in report["controls"] if c["status"] == "FAIL"}
    assert failing == {}
    assert report["summary"]["FAIL"] == 0


def test_audit_exceptions_carry_the_catalog_reason(report):
    reasons = {
        c["id"]: " ".join(c["exception"].split()) for c in CATALOG["controls"] if c["exception"]
    }
    got = {c["id"]: c["reason"] for c in report["controls"] if c["status"] == "EXCEPTION"}
    assert got == reasons


def test_audit_evidence_is_read_from_the_host(host, report):
    """Spot checks: the evidence quotes what the host really has."""
    by_id = {c["id"]: c for c in report["controls"]}
    sock = host.file("/run/docker.sock")
    assert f"mode {sock.mode:04o}" in by_id["3.16"]["evidence"][0]
    assert by_id["2.15"]["evidence"][-1] == "running daemon live restore: True"


def test_audit_junit_xml_parses_with_no_failure(host, report):
    root = ET.parse(REPORT_DIR / f"{host_name(host)}.xml").getroot()
    suite = root.find("testsuite")
    assert int(suite.get("tests")) == len(suite.findall("testcase")) == report["summary"]["total"]
    assert suite.get("failures") == "0"
    assert suite.findall("testcase/failure") == []
    assert len(suite.findall("testcase/skipped")) == report["summary"]["EXCEPTION"]


def test_audit_markdown_has_summary_and_before_column(host, report):
    text = (REPORT_DIR / f"{host_name(host)}.md").read_text()
    s = report["summary"]
    assert f"| now | {s['PASS']} | 0 | {s['EXCEPTION']} | {s['total']} |" in text
    assert "| before first converge |" in text
    assert "| ID | Control | Before | Now |" in text


def test_before_report_kept_from_the_first_converge(host, report):
    """site.yml audited the fresh host once before converging it: most controls failed then."""
    before = json.loads((REPORT_DIR / f"{host_name(host)}.before.json").read_text())
    jsonschema.validate(before, SCHEMA)
    assert before["phase"] == "before"
    assert before["summary"]["FAIL"] > 20
    fixed = [
        c["id"]
        for c, now in zip(before["controls"], report["controls"], strict=True)
        if c["status"] == "FAIL" and now["status"] == "PASS"
    ]
    assert {"2.2", "2.9", "2.15", "4.5", "X.1"} <= set(fixed)


def test_x_2_secret_files_closed(host, app_deployed, report):
    """The app's secrets are no more open than 0400/0440 (X.2), as the audit reports it."""
    for name, mode in (("db_superuser_password", 0o400), ("db_app_password", 0o440)):
        secret = host.file(f"{SECRETS_DIR}/{name}")
        assert secret.mode == mode
        assert secret.uid != 0
    entry = next(c for c in report["controls"] if c["id"] == "X.2")
    assert entry["status"] == "PASS"
    assert len(entry["evidence"]) == 2


def test_audit_returns_the_summary_as_job_artifacts(host):
    # AWX and AAP keep set_stats data as the job's artifacts; the recap shows them
    # as CUSTOM STATS with show_custom_stats (ansible.cfg sets it), here as JSON.
    env = {"ANSIBLE_SHOW_CUSTOM_STATS": "true", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}
    play = run_playbook(host, "audit.yml", env=env)
    assert play.returncode == 0, play.stdout[-3000:]
    stats = play.stdout.split("CUSTOM STATS:", 1)[1].split("RUN:", 1)[1].splitlines()[0]
    run = json.loads(stats)
    artifact = run["dockhard_compliance"][host_name(host)]
    assert artifact["summary"]["FAIL"] == 0
    assert artifact["failing"] == []
    assert artifact["summary"]["PASS"] > 50
    assert artifact["report"].endswith(f"/{host_name(host)}.json")
