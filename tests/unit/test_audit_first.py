"""Audit-first converges (docs/reruns.md): what a role patches after its read.

The read (cis_audit's managed entries), the choice (its converge_ids),
the catalog's skip_safe field and the fingerprint that tells a rerun from a
first converge.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1].parent
sys.path.insert(0, str(ROOT / "collections"))
CATALOG = yaml.safe_load((ROOT / "catalog" / "controls.yml").read_text())


# The plugins as Ansible imports them, from the collection's path.
PLUGINS = "ansible_collections.dockhard.docker_hardening.plugins"
audit = importlib.import_module(f"{PLUGINS}.modules.cis_audit")
choice = importlib.import_module(f"{PLUGINS}.module_utils.converge")
reasons = importlib.import_module(f"{PLUGINS}.filter.converge")
lookup = importlib.import_module(f"{PLUGINS}.lookup.controls")


def control(control_id, enabled=True, skip_safe=True):
    return {"id": control_id, "enabled": enabled, "skip_safe": skip_safe}


PASS = {"status": "PASS", "evidence": []}
FAIL = {"status": "FAIL", "evidence": []}


# ------------------------------------------------------------------ the choice
def test_a_rerun_without_drift_converges_nothing():
    controls = [control("2.2"), control("2.15")]
    found = {"2.2": PASS, "2.15": PASS}
    assert choice.converge_ids(controls, found, {}, False) == []


def test_a_failing_or_drifted_or_unchecked_control_is_converged():
    controls = [control("2.2"), control("2.15"), control("2.16")]
    found = {"2.2": FAIL, "2.15": PASS}
    assert choice.converge_ids(controls, found, {"2.15": ["daemon.json differs"]}) == [
        "2.2",
        "2.15",
        "2.16",
    ]


def test_a_control_unsafe_to_skip_is_converged_although_it_passes():
    controls = [control("1.1.3", skip_safe=False), control("2.2")]
    found = {"1.1.3": PASS, "2.2": PASS}
    assert choice.converge_ids(controls, found, {}) == ["1.1.3"]


def test_a_full_converge_takes_every_enabled_control_and_own_key():
    controls = [control("2.2"), control("2.3", enabled=False)]
    assert choice.converge_ids(controls, {"2.2": PASS}, {}, True, ["engine"]) == ["2.2", "engine"]


def test_an_own_key_is_converged_only_when_it_drifted():
    controls = [control("1.1.2", skip_safe=False)]
    found = {"1.1.2": PASS}
    assert choice.converge_ids(controls, found, {}, False, ["engine"]) == ["1.1.2"]
    drift = {"engine": ["docker.service is disabled"]}
    assert choice.converge_ids(controls, found, drift, False, ["engine"]) == ["1.1.2", "engine"]


def test_the_read_converges_in_full_without_its_fingerprint_or_when_asked():
    controls = [control("2.2"), control("2.15")]
    recorded = {"converged_before": True, "drift": {}}
    new = {"converged_before": False, "drift": {}}
    found = {"2.2": PASS, "2.15": PASS}
    rerun = {"controls": controls, "full": False, "own": []}
    assert audit.choose(rerun, found, recorded) == {"full": False, "converge_ids": []}
    assert audit.choose(rerun, found, new) == {"full": True, "converge_ids": ["2.2", "2.15"]}
    asked = {**rerun, "full": True}
    assert audit.choose(asked, found, recorded) == {"full": True, "converge_ids": ["2.2", "2.15"]}


def test_the_choice_sees_findings_of_an_earlier_task_of_the_pass():
    # docker_app's 4.4 comes from image_patches, before its cis_audit read.
    app = {"controls": [control("4.4"), control("5.2")], "full": False, "own": []}
    read = {"converged_before": True, "drift": {}}
    assert audit.choose(app, {"4.4": FAIL, "5.2": PASS}, read)["converge_ids"] == ["4.4"]


# ------------------------------------------------------------------ the catalog
def test_every_remediated_control_says_whether_it_is_safe_to_skip():
    for entry in CATALOG["controls"]:
        assert ("skip_safe" in entry) == bool(entry.get("role")), entry["id"]


@pytest.mark.parametrize("control_id", ["1.1.1", "1.1.2"])
def test_controls_whose_read_is_blind_to_part_of_their_remediation_are_unsafe(control_id):
    entry = next(c for c in CATALOG["controls"] if c["id"] == control_id)
    assert entry["skip_safe"] is False


def test_the_lookup_returns_skip_safe():
    values = {c["toggle"]: True for c in CATALOG["controls"] if c.get("toggle")}
    entries = lookup.role_controls(
        CATALOG["controls"], ["docker_daemon", "docker_engine"], values.get
    )
    safe = {e["id"]: e["skip_safe"] for e in entries}
    assert safe["2.2"] is True
    assert safe["1.1.2"] is False


def test_the_fingerprint_follows_code_catalog_and_inputs():
    values = {"docker_host_imds_addresses": ["169.254.169.254/32"]}
    first = lookup.fingerprint("docker_host", CATALOG["controls"], values.get)
    assert first == lookup.fingerprint("docker_host", CATALOG["controls"], values.get)
    changed = {"docker_host_imds_addresses": ["169.254.169.253/32"]}
    assert first != lookup.fingerprint("docker_host", CATALOG["controls"], changed.get)
    flipped = [
        {**c, "skip_safe": not c["skip_safe"]} if c["id"] == "4.5" else c
        for c in CATALOG["controls"]
    ]
    assert first != lookup.fingerprint("docker_host", flipped, values.get)
    assert first != lookup.fingerprint("docker_files", CATALOG["controls"], values.get)


def test_the_marker_that_docker_compliance_writes_is_the_one_the_read_looks_for():
    spec = yaml.safe_load((ROOT / "plugins/modules/cis_audit.py").read_text().split('"""')[3])
    written = yaml.safe_load((ROOT / "roles/docker_compliance/vars/main.yml").read_text())
    assert (
        spec["options"]["converge_marker"]["default"]
        == written["docker_compliance_converge_marker"]
    )


# ------------------------------------------------------------------ the read
class FakeHost:
    def __init__(self, outputs=None):
        self.outputs = outputs or {}

    def run(self, argv):
        return self.outputs.get(tuple(argv), (0, "", ""))


def test_a_managed_file_is_read_by_content_owner_and_mode(tmp_path):
    path = tmp_path / "10-dockhard.conf"
    path.write_text("[Socket]\nSocketMode=0660\n")
    path.chmod(0o644)
    entry = {"ids": ["3.15"], "path": str(path), "content": "[Socket]\nSocketMode=0660\n"}
    assert audit.managed_drift(FakeHost(), {**entry, "mode": "0644"}) is None
    assert "mode 0644 (want 0600)" in audit.managed_drift(FakeHost(), {**entry, "mode": "0600"})
    path.write_text("[Socket]\nSocketMode=0666\n")
    assert "differs" in audit.managed_drift(FakeHost(), entry)
    path.unlink()
    assert "missing" in audit.managed_drift(FakeHost(), entry)


def test_daemon_json_is_compared_whole_with_capped_ulimits():
    """Through the same cached read of daemon.json as the section 2 checks."""
    expected = {"icc": False, "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 64000}}}
    entry = {"ids": ["2.2"], "daemon_json": expected}
    capped = {"icc": False, "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1024}}}
    host = FakeHost()
    host.daemon_json = lambda: capped
    assert audit.managed_drift(host, entry) is None
    host.daemon_json = lambda: {**capped, "debug": True}
    assert "differs" in audit.managed_drift(host, entry)
    host.daemon_json = lambda: {}  # no daemon.json
    assert "differs" in audit.managed_drift(host, entry)

    def invalid():
        raise audit.Unreadable("/etc/docker/daemon.json is not valid JSON: Expecting value")

    host.daemon_json = invalid
    assert "not valid JSON" in audit.managed_drift(host, entry)


def test_a_directory_is_read_by_owner_name_or_id_and_mode(tmp_path):
    directory = tmp_path / "socket"
    directory.mkdir(mode=0o750)
    directory.chmod(0o750)
    uid = directory.stat().st_uid
    entry = {"path": str(directory), "owner": str(uid), "mode": "0750"}
    assert audit.managed_drift(FakeHost(), entry) is None
    directory.chmod(0o777)
    assert "mode 0777 (want 0750)" in audit.managed_drift(FakeHost(), entry)
    assert "owner" in audit.managed_drift(FakeHost(), {"path": str(directory), "owner": "65534"})
    assert "missing" in audit.managed_drift(
        FakeHost(), {"path": str(tmp_path / "x"), "mode": "0750"}
    )


def test_lines_users_globs_and_absent_files(tmp_path):
    subuid = tmp_path / "subuid"
    subuid.write_text("dockremap:100000:65536\n")
    assert (
        audit.managed_drift(FakeHost(), {"path": str(subuid), "line": "dockremap:100000:65536"})
        is None
    )
    assert "lacks" in audit.managed_drift(
        FakeHost(), {"path": str(subuid), "line": "dockremap:1:2"}
    )
    assert audit.managed_drift(FakeHost(), {"user": "root"}) is None
    assert "no user" in audit.managed_drift(FakeHost(), {"user": "no-such-user-dockhard"})
    keep = tmp_path / "50-dockhard-docker.rules"
    keep.write_text("")
    entry = {"glob": str(tmp_path / "*docker*.rules"), "keep": [str(keep)]}
    assert audit.managed_drift(FakeHost(), entry) is None
    (tmp_path / "60-docker.rules").write_text("")
    assert "60-docker.rules" in audit.managed_drift(FakeHost(), entry)
    assert "exists" in audit.managed_drift(FakeHost(), {"path": str(keep), "absent": True})


def test_units_and_packages_are_read_with_systemctl_and_dpkg():
    unit = {"unit": "docker.service"}
    running = FakeHost(
        {
            ("systemctl", "is-enabled", "docker.service"): (0, "enabled\n", ""),
            ("systemctl", "is-active", "docker.service"): (0, "active\n", ""),
        }
    )
    assert audit.managed_drift(running, unit) is None
    stopped = FakeHost(
        {
            ("systemctl", "is-enabled", "docker.service"): (0, "enabled\n", ""),
            ("systemctl", "is-active", "docker.service"): (3, "inactive\n", ""),
        }
    )
    assert audit.managed_drift(stopped, unit) == "docker.service is enabled and inactive"
    dpkg = ("dpkg-query", "--show", "--showformat", "${Package} ${Status}\\n")
    host = FakeHost(
        {dpkg: (0, "docker.io install ok installed\nrunc deinstall ok config-files\n", "")}
    )
    packages = {"packages_any": [["docker.io", "runc"], ["docker-ce"]]}
    assert "runc" in audit.managed_drift(host, packages)
    assert audit.managed_drift(host, {"packages_any": [["docker.io"], ["docker-ce"]]}) is None


def test_read_drift_names_every_id_of_an_entry_that_differs(tmp_path):
    entries = [{"ids": ["2.2", "2.15"], "path": str(tmp_path / "absent"), "content": "x"}]
    assert sorted(audit.read_drift(FakeHost(), entries)) == ["2.15", "2.2"]
    with pytest.raises(ValueError):
        audit.read_drift(FakeHost(), [{"ids": ["2.2"]}])


def test_the_marker_must_hold_this_exact_fingerprint(tmp_path):
    marker = tmp_path / "converged"
    assert audit.converged_before(str(marker), "abc") is False
    marker.write_text("docker_files abc\ndocker_host def\n")
    assert audit.converged_before(str(marker), "abc") is True
    assert audit.converged_before(str(marker), "ab") is False
    assert audit.converged_before(str(marker), "") is False


def test_an_engine_that_does_not_answer_fails_the_runtime_checks_with_its_reason():
    """With the daemon down, docker info prints the client's half and ServerErrors."""
    host = audit.Host(None)
    down = json.dumps(
        {"ServerErrors": ["Cannot connect to the Docker daemon"], "SecurityOptions": None}
    )
    host.run = lambda argv: (0, down, "")
    with pytest.raises(audit.Unreadable, match="Cannot connect"):
        host.info()
    params = {"daemon_fragments": {"2.9": {"userns-remap": "default"}}, "daemon_expected": {}}
    host.daemon_json = lambda: {"userns-remap": "default"}
    with pytest.raises(audit.Unreadable):
        audit.check_daemon_keys("2.9")(host, params)


def test_each_converged_control_says_why():
    controls = [control("1.1.2", skip_safe=False), control("2.2"), control("3.15"), control("4.5")]
    found = {"1.1.2": PASS, "2.2": {"status": "FAIL", "evidence": ["daemon.json icc: true"]}}
    drift = {"3.15": ["/etc/systemd/system/docker.socket.d/10-dockhard.conf is missing"]}
    assert reasons.converge_reasons(["1.1.2", "2.2", "3.15", "4.5"], controls, found, drift) == [
        "1.1.2: unsafe to skip (catalog skip_safe: false)",
        "2.2: FAIL: daemon.json icc: true",
        "3.15: /etc/systemd/system/docker.socket.d/10-dockhard.conf is missing",
        "4.5: not checked",
    ]


def test_controls_converged_for_one_reason_share_one_line():
    controls = [control("2.2"), control("2.3"), control("2.4")]
    drift = {key: ["/etc/docker/daemon.json differs"] for key in ("2.2", "2.4")}
    found = {"2.3": {"status": "FAIL", "evidence": ["icc: true"]}}
    assert reasons.converge_reasons(["2.2", "2.3", "2.4"], controls, found, drift) == [
        "2.2, 2.4: /etc/docker/daemon.json differs",
        "2.3: FAIL: icc: true",
    ]
