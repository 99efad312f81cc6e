"""The compliance report filters, the catalog lookup and the audit module's pure parts."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import yaml
from ansible.errors import AnsibleFilterError, AnsibleLookupError

ROOT = Path(__file__).resolve().parents[2]
# The modules import the collection's module_utils by FQCN, as Ansible runs them.
sys.path.insert(0, str(ROOT / "collections"))
CATALOG = yaml.safe_load((ROOT / "catalog" / "controls.yml").read_text())
SCHEMA = json.loads((ROOT / "catalog" / "report.schema.json").read_text())


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report_filters = load("compliance", ROOT / "plugins/filter/compliance.py")
audit_module = load("dockhard_cis_audit", ROOT / "plugins/modules/cis_audit.py")
controls_lookup = load("controls", ROOT / "plugins/lookup/controls.py")
file_state = importlib.import_module(
    "ansible_collections.dockhard.docker_hardening.plugins.module_utils.file_state"
)
ROLES = sorted({c["role"] for c in CATALOG["controls"] if c.get("role")})

IMPLEMENTED = [c for c in CATALOG["controls"] if not c["exception"]]
EXCEPTIONS = [c for c in CATALOG["controls"] if c["exception"]]


def findings(status="PASS", **overrides):
    found = {c["id"]: {"status": status, "evidence": [f"read {c['id']}"]} for c in IMPLEMENTED}
    found.update(overrides)
    return found


def states(switches=None, catalog=CATALOG):
    """What the lookup returns when every toggle is on except the given switches."""
    values = {c["toggle"]: True for c in catalog["controls"] if c.get("toggle")}
    values.update(switches or {})
    return controls_lookup.role_controls(catalog["controls"], ROLES, values.get)


def report(found=None, switches=None, phase="after"):
    return report_filters.compliance_report(
        findings() if found is None else found, CATALOG, states(switches), "host-a", phase
    )


def test_report_of_a_clean_host_validates_and_has_no_fail():
    r = report()
    jsonschema.validate(r, SCHEMA)
    assert r["summary"] == {
        "PASS": len(IMPLEMENTED),
        "FAIL": 0,
        "EXCEPTION": len(EXCEPTIONS),
        "total": len(CATALOG["controls"]),
    }
    assert r["benchmark"]["version"] == "1.6.0"


def test_every_exception_carries_the_catalog_reason():
    by_id = {c["id"]: c for c in report()["controls"]}
    for control in EXCEPTIONS:
        entry = by_id[control["id"]]
        assert entry["status"] == "EXCEPTION"
        assert entry["reason"] == " ".join(control["exception"].split())


def test_a_failing_finding_is_reported_with_its_evidence():
    r = report(
        findings(**{"3.16": {"status": "FAIL", "evidence": ["/run/docker.sock: mode 0666"]}})
    )
    entry = next(c for c in r["controls"] if c["id"] == "3.16")
    assert (entry["status"], entry["evidence"]) == ("FAIL", ["/run/docker.sock: mode 0666"])
    assert r["summary"]["FAIL"] == 1
    jsonschema.validate(r, SCHEMA)


def test_a_control_that_is_on_but_was_not_checked_stops_the_report():
    found = findings()
    del found["2.15"]
    with pytest.raises(AnsibleFilterError, match=re.escape("no finding for 2.15")):
        report(found)


def test_a_finding_or_switch_the_catalog_does_not_know_stops_the_report():
    with pytest.raises(AnsibleFilterError, match=re.escape("not in the catalog: 9.9")):
        report(findings(**{"9.9": {"status": "PASS", "evidence": []}}))
    partial = [s for s in states() if s["role"] != "docker_host"]
    with pytest.raises(AnsibleFilterError, match=re.escape("no switch state for 4.5, X.1")):
        report_filters.compliance_report(findings(), CATALOG, partial, "host-a")


def test_a_toggle_the_play_does_not_define_is_an_error_not_on():
    values = {c["toggle"]: True for c in CATALOG["controls"] if c.get("toggle")}
    del values["docker_daemon_cis_2_15"]
    undefined = re.escape("docker_daemon_cis_2_15 are not defined")
    with pytest.raises(AnsibleLookupError, match=undefined):
        controls_lookup.role_controls(CATALOG["controls"], ["docker_daemon"], values.get)


def test_a_new_catalog_control_reaches_its_role_its_tags_and_the_report():
    """Adding a control is a catalog entry plus its toggle: no other list to edit."""
    made_up = {
        **next(c for c in CATALOG["controls"] if c["id"] == "2.15"),
        "id": "2.99",
        "title": "A made-up daemon control",
        "toggle": "docker_daemon_cis_2_99",
        "tag": "rule_2.99",
    }
    catalog = {**CATALOG, "controls": [*CATALOG["controls"], made_up]}
    daemon = [s for s in states(catalog=catalog) if s["role"] == "docker_daemon"]
    assert daemon[-1] == {
        "id": "2.99",
        "role": "docker_daemon",
        "section": "2",
        "tag": "rule_2.99",
        "toggle": "docker_daemon_cis_2_99",
        "enabled": True,
        "off_by": None,
        "skip_safe": True,
    }
    off = states({"docker_daemon_cis_2_99": False}, catalog)
    found = findings(**{"2.99": {"status": "FAIL", "evidence": ["read 2.99"]}})
    on_entry = report_filters.compliance_report(found, catalog, states(catalog=catalog), "h")
    off_entry = report_filters.compliance_report(findings(), catalog, off, "h")
    assert on_entry["controls"][-1]["status"] == "FAIL"
    assert off_entry["controls"][-1]["reason"].endswith("docker_daemon_cis_2_99 is false")


@pytest.mark.parametrize(
    ("switches", "why"),
    [
        ({"docker_daemon_cis_2_15": False}, "docker_daemon_cis_2_15 is false"),
        ({"docker_daemon_section2": "false"}, "docker_daemon_section2 is false"),
    ],
)
def test_a_control_turned_off_is_an_exception_naming_the_switch(switches, why):
    found = findings(**{"2.15": {"status": "FAIL", "evidence": ["live-restore false"]}})
    entry = next(c for c in report(found, switches)["controls"] if c["id"] == "2.15")
    assert entry["status"] == "EXCEPTION"
    assert why in entry["reason"]
    assert entry["evidence"] == ["live-restore false"]


def test_markdown_has_the_summary_and_a_before_column():
    before = report(findings("FAIL"), phase="before")
    text = report_filters.compliance_markdown(report(), before)
    assert "| before first converge | 0 |" in text
    assert f"| now | {len(IMPLEMENTED)} | 0 | {len(EXCEPTIONS)} |" in text
    row = next(line for line in text.splitlines() if line.startswith("| 2.15 |"))
    assert row.split(" | ")[2:4] == ["FAIL", "PASS"]
    header = next(line for line in text.splitlines() if line.startswith("| ID |"))
    separator = text.splitlines()[text.splitlines().index(header) + 1]
    assert header.count("|") == separator.count("|")


def test_markdown_escapes_pipes_in_evidence():
    found = findings(**{"1.1.2": {"status": "FAIL", "evidence": ["a|b"]}})
    assert "a\\|b" in report_filters.compliance_markdown(report(found))


def test_junit_parses_with_one_case_per_control():
    found = findings(**{"5.9": {"status": "FAIL", "evidence": ["web: published 8000/tcp"]}})
    root = ET.fromstring(report_filters.compliance_junit(report(found)).encode())
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(CATALOG["controls"]) == int(suite.get("tests"))
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name").split()[0] for c in failed] == ["5.9"]
    assert failed[0].find("failure").text == "web: published 8000/tcp"
    assert len([c for c in cases if c.find("skipped") is not None]) == int(suite.get("skipped"))


def test_summary_names_failing_controls_and_report_path():
    found = findings(**{"2.2": {"status": "FAIL", "evidence": ["icc true"]}})
    lines = report_filters.compliance_summary([report(found)], "/r")
    assert lines[0].endswith("FAIL: 2.2")
    assert "/r/<host>.json" in lines[-1]


@pytest.mark.parametrize(
    ("actual", "wanted", "ok"),
    [
        (0o660, "0660", True),
        (0o600, "0660", True),
        (0o666, "0660", False),
        (0o644, "0644", True),
        (0o664, "0644", False),
    ],
)
def test_mode_ok_allows_stricter_modes_only(actual, wanted, ok):
    assert audit_module.mode_ok(actual, wanted) is ok


def test_watched_paths_reads_rules_files_and_auditctl_output():
    text = (
        "## comment\n-w /usr/bin/dockerd -p rwxa -k docker\n"
        "-a always,exit -F arch=b64 -S mount\n-w /etc/docker -p rwxa -k docker\n"
    )
    assert audit_module.watched_paths(text) == {"/usr/bin/dockerd", "/etc/docker"}


def test_every_implemented_control_has_a_check_in_the_module():
    params = {
        "audit_controls": [{"id": f"1.1.{n}"} for n in range(3, 19)],
        "daemon_fragments": {
            k: v
            for k, v in json.loads(
                (ROOT / "roles/docker_daemon/files/daemon_baseline.json").read_text()
            ).items()
            if k != "_comment"
        },
        "file_targets": yaml.safe_load((ROOT / "roles/docker_files/vars/main.yml").read_text())[
            "docker_files_targets"
        ],
    }
    checks = audit_module.registry(params)
    # CIS 4.4 is read by plugins/modules/image_patches.py (roles/docker_app/tasks/audit.yml).
    app_vars = yaml.safe_load((ROOT / "roles/docker_app/vars/main.yml").read_text())
    elsewhere = set(app_vars["docker_app_patch_controls"])
    assert elsewhere == {"4.4"}
    assert [c["id"] for c in IMPLEMENTED if c["id"] not in set(checks) | elsewhere] == []


def test_read_files_returns_modes_of_paths_and_unit_files(tmp_path, monkeypatch):
    conf = tmp_path / "daemon.json"
    conf.write_text("{}")
    conf.chmod(0o640)
    unit = tmp_path / "docker.service"
    unit.write_text("[Service]\n")
    unit.chmod(0o664)
    # systemd knows one unit; the files are read from the real filesystem.
    monkeypatch.setattr(file_state, "unit_file", {"docker.service": str(unit)}.get)
    units, paths = file_state.read_files(
        [str(conf), str(tmp_path / "absent")], ["docker.service", "no.socket"]
    )
    assert units == {"docker.service": str(unit), "no.socket": ""}
    assert paths[str(conf)]["mode"] == "0640"
    assert paths[str(unit)]["mode"] == "0664"
    assert paths[str(tmp_path / "absent")] is None
    assert set(paths) == {str(conf), str(unit), str(tmp_path / "absent")}


@pytest.mark.parametrize(
    ("source", "sensitive"),
    [
        ("/", True),
        ("/etc", True),
        ("/etc/shadow", True),
        ("/var/run/docker.sock", True),
        ("/etcetera", False),
        ("/opt/dockhard/run", False),
    ],
)
def test_cis_5_6_a_bind_inside_a_sensitive_path_counts(source, sensitive):
    paths = ["/", "/etc", "/var/run/docker.sock"]
    assert audit_module.under_sensitive_path(source, paths) is sensitive


# The action that writes the reports on the controller (plugins/action/compliance_reports.py).
reports_action = importlib.import_module(
    "ansible_collections.dockhard.docker_hardening.plugins.action.compliance_reports"
)


def test_the_before_phase_writes_only_the_before_report(tmp_path):
    base = str(tmp_path / "host-a")
    files = reports_action.reports(report(phase="before"), "before", base)
    assert list(files) == [f"{base}.before.json"]


def test_the_reports_are_as_to_nice_json_and_the_filters_render_them(tmp_path):
    from ansible.plugins.filter.core import to_nice_json

    base = str(tmp_path / "host-a")
    failing = findings() | {"2.2": {"status": "FAIL", "evidence": ["icc on"]}}
    before = report(failing, phase="before")
    (tmp_path / "host-a.before.json").write_text(json.dumps(before))
    after = report()
    files = reports_action.reports(after, "after", base)
    assert sorted(files) == [f"{base}.json", f"{base}.md", f"{base}.xml"]
    assert files[f"{base}.json"] == to_nice_json(after, indent=2) + "\n"
    assert files[f"{base}.md"] == report_filters.compliance_markdown(after, before)
    assert files[f"{base}.xml"] == report_filters.compliance_junit(after)


def test_an_unreadable_before_report_is_named_not_ignored(tmp_path):
    from ansible.errors import AnsibleActionFail

    (tmp_path / "host-a.before.json").write_text("{not json")
    with pytest.raises(AnsibleActionFail, match=r"host-a\.before\.json: unreadable before report"):
        reports_action.reports(report(), "after", str(tmp_path / "host-a"))


def test_a_report_file_is_replaced_whole_with_mode_0644(tmp_path):
    path = tmp_path / "host-a.json"
    path.write_text("old")
    path.chmod(0o600)
    reports_action._write(str(path), "new\n")
    assert path.read_text() == "new\n"
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["host-a.json"]


def test_the_artifact_names_the_failing_controls_per_host():
    failing = findings() | {"2.2": {"status": "FAIL", "evidence": ["icc on"]}}
    stats = reports_action.artifact(report(failing), "/r/host-a", "host-a")
    assert stats["per_host"] is False
    assert stats["aggregate"] is True
    entry = stats["data"]["dockhard_compliance"]["host-a"]
    assert entry["failing"] == ["2.2"]
    assert entry["summary"]["FAIL"] == 1
    assert entry["report"] == "/r/host-a.json"
