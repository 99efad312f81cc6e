"""Upgrading a host from the previous release (molecule/upgrade).

The prepare step converged the fresh host with the previous release, from its
own tree; converge and idempotence ran the working tree's site.yml over it.
What an upgrade must leave: no file the working tree's roles do not manage
(old audit rule files, drop-ins, scripts, app files), no audit rule twice,
the daemon.json the roles write now, and a compliance report with no FAIL.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import subprocess
from collections import Counter
from fnmatch import fnmatch
from typing import Any

import pytest
import yaml
from conftest import REPORT_DIR, ROOT, audit_report, host_name, host_var, run_ok

pytestmark = pytest.mark.skipif(
    os.environ.get("MOLECULE_SCENARIO_NAME") != "upgrade",
    reason="needs a host converged by the previous release: runs in molecule/upgrade",
)

# Where renamed roles and templates would leave files behind (shell patterns).
WATCHED = (
    "/etc/audit/rules.d",
    "/etc/systemd/system/*.d",
    "/usr/local/sbin",
    "/etc/docker",
    "/opt/dockhard",
)
LIST_FILES = "find {} -xdev \\( -type f -o -type l \\) 2>/dev/null | sort"
MERGED_AUDIT_RULES = "/etc/audit/audit.rules"  # what augenrules made of rules.d, loaded at boot
REFERENCE = re.compile(r"\{\{ (?P<name>\w+)(?P<dirname> \| dirname)? \}\}")
DAEMON_BASELINE = ROOT / "roles" / "docker_daemon" / "files" / "daemon_baseline.json"


def role_data() -> dict[str, Any]:
    """The defaults and vars of every role, by variable name."""
    data: dict[str, Any] = {}
    for path in sorted(ROOT.glob("roles/*/*/main.yml")):
        if path.parent.name in ("defaults", "vars"):
            data.update(yaml.safe_load(path.read_text()) or {})
    return data


def resolve(value: str, data: dict[str, Any]) -> str:
    """Fill in `{{ name }}` and `{{ name | dirname }}` from other role data (paths are built so)."""

    def one(match: re.Match[str]) -> str:
        named = data.get(match["name"])
        if not isinstance(named, str) or "{{" in named:
            return match[0]
        return posixpath.dirname(named) if match["dirname"] else named

    return REFERENCE.sub(one, value)


def role_paths() -> set[str]:
    """Every absolute path in the roles' defaults and vars: what the roles manage."""
    data = role_data()
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            path = resolve(value, data)
            if path.startswith("/") and " " not in path and "{{" not in path:
                found.add(path)

    walk(data)
    return found


def own_directory(path: str) -> bool:
    """A directory inside a watched one (e.g. /opt/dockhard/app): the role owns what it holds."""
    inside = any(fnmatch(path, f"{root}/*") for root in WATCHED)
    return inside and not any(fnmatch(path, root) for root in WATCHED)


def managed(path: str, paths: set[str]) -> bool:
    return path in paths or any(path.startswith(f"{p}/") and own_directory(p) for p in paths)


def files_on(host) -> set[str]:
    return set(run_ok(host, "sh", "-c", LIST_FILES.format(" ".join(WATCHED))).split())


def controller(*argv: str) -> str:
    """Run argv on the controller (the machine whose engine runs the host container)."""
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def files_of_image(host) -> set[str]:
    """The watched files the host image itself ships (a throwaway container of it)."""
    image = controller("docker", "inspect", "--format", "{{.Config.Image}}", host_name(host))
    listing = LIST_FILES.format(" ".join(WATCHED))
    run = ["docker", "run", "--rm", "--network", "none", "--entrypoint", "sh", image.strip()]
    return set(controller(*run, "-c", listing).split())


def files_of_packages(host) -> set[str]:
    """Files Debian's packages installed (the package manager owns them, not dockhard)."""
    return set(run_ok(host, "sh", "-c", "cat /var/lib/dpkg/info/*.list").split("\n"))


def test_upgrade_kept_the_before_report_of_the_fresh_host(host):
    """The previous release audited the fresh host; the upgrade keeps that report."""
    before = json.loads((REPORT_DIR / f"{host_name(host)}.before.json").read_text())
    assert before["phase"] == "before"
    assert before["summary"]["FAIL"] > 20


def test_upgrade_leaves_no_file_the_roles_do_not_manage(host):
    foreign = files_of_image(host) | files_of_packages(host)
    paths = role_paths()
    left = sorted(p for p in files_on(host) - foreign if not managed(p, paths))
    assert left == []


def test_upgrade_leaves_the_roles_own_files(host):
    """The check above is not vacuous: files the roles name are on the host and allowed."""
    on_host = files_on(host)
    paths = role_paths()
    named = {p for p in paths if p in on_host}
    assert named, sorted(paths)
    assert all(managed(p, paths) for p in named)
    assert not managed("/etc/audit/rules.d/40-old-docker.rules", paths)


def audit_rule_lines(text: str) -> list[str]:
    """The rules of an audit rules file, without its control lines (-D, -b, -f, -e)."""
    return [line.strip() for line in text.splitlines() if line.startswith(("-w ", "-a "))]


def test_upgrade_merged_audit_rules_have_no_duplicates(host):
    rules = audit_rule_lines(host.file(MERGED_AUDIT_RULES).content_string)
    assert rules
    assert [rule for rule, count in Counter(rules).items() if count > 1] == []


@pytest.fixture(scope="module")
def kernel_rules(host):
    """The host's merged rules as the machine's kernel loads them, under a key of this test.

    The kernel refuses audit requests from a container's own PID namespace, so
    auditctl runs in the host container's mount namespace (its paths, its
    auditctl) but the controller's PID namespace; the key of its own keeps
    other hosts' rules on this kernel apart, and its rules are removed after.
    """
    key = f"dockhard-upgrade-{host_name(host)}"
    rules = audit_rule_lines(host.file(MERGED_AUDIT_RULES).content_string)
    own = [rule.rsplit(" -k ", 1)[0] + f" -k {key}" for rule in rules]
    pid = controller("docker", "inspect", "--format", "{{.State.Pid}}", host_name(host)).strip()
    auditctl = ["nsenter", "--target", pid, "--mount", "--", "auditctl"]
    clear = [*auditctl, "-D", "-k", key]
    subprocess.run(clear, capture_output=True, check=False)
    try:
        refused = [
            r
            for r in own
            if subprocess.run([*auditctl, *r.split()], capture_output=True).returncode
        ]
        listed = controller(*auditctl, "-l")
        yield refused, [line for line in listed.splitlines() if line.endswith(f"-k {key}")]
    finally:
        subprocess.run(clear, capture_output=True, check=False)


def test_upgrade_kernel_loads_each_audit_rule_once(host, kernel_rules):
    refused, loaded = kernel_rules
    assert refused == []  # the kernel refuses a rule it already has ("Rule exists")
    watched = [line.split()[1] for line in loaded if line.startswith("-w ")]
    assert watched
    assert [path for path, count in Counter(watched).items() if count > 1] == []


def expected_daemon_json(host) -> dict[str, Any]:
    """What docker_daemon writes: its baseline fragments, the operator's options, the nofile cap."""
    merged: dict[str, Any] = {}
    fragments = json.loads(DAEMON_BASELINE.read_text())
    for cis, keys in fragments.items():
        if not cis.startswith("_"):
            merge(merged, keys)
    merge(merged, host_var(host, "docker_daemon_options", {}))
    nofile = merged["default-ulimits"]["nofile"]
    cap = dockerd_nofile_limit(host)
    nofile["Soft"], nofile["Hard"] = min(nofile["Soft"], cap), min(nofile["Hard"], cap)
    return merged


def merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


def dockerd_nofile_limit(host) -> int:
    """The hard open-files limit of the running engine, which docker_daemon caps ulimits at."""
    pid = run_ok(host, "systemctl", "show", "--property=MainPID", "--value", "docker.service")
    limits = host.file(f"/proc/{pid.strip()}/limits").content_string
    line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    return int(line.split()[4])


def test_upgrade_daemon_json_is_what_the_roles_write(host, daemon_json):
    assert daemon_json == expected_daemon_json(host)


def test_upgrade_compliance_report_has_no_fail(host):
    report = audit_report(host)
    failing = {c["id"]: c["evidence"] for c in report["controls"] if c["status"] == "FAIL"}
    assert failing == {}
