"""Pull mode: the host heals itself on its own timer, with no controller run.

Runs in molecule/pull, whose converge (from the controller) turned pull mode
on with a timer firing every 2 minutes. The fixtures tell the story in order,
in one timer period: between two runs, controls are broken as in
molecule/drift and a container nobody hardened is started; the timer's next
run, with no controller run, puts the broken controls back, leaves a report
on the host (and in the operator's directory) with them FAIL before and PASS
after, and fails the service, since the container's controls are not the
host roles' to heal; a rerun of the role from the controller then changes
nothing, in --check --diff too.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator

import pytest
import yaml
from ansible_recap import parse_recap
from conftest import host_name, recap, run_ok, run_playbook
from test_drift import DRIFT

pytestmark = pytest.mark.skipif(
    os.environ.get("MOLECULE_SCENARIO_NAME") != "pull",
    reason="needs pull mode on and breaks the host on purpose: runs only in molecule/pull",
)

SERVICE = "dockhard-pull.service"
TIMER = "dockhard-pull.timer"
REPORT_DIR = "/var/lib/dockhard/reports"
DESTINATION = "/srv/dockhard-reports"
INVENTORY = "/etc/dockhard/pull/inventory.yml"
# From molecule/drift: an audit rule deleted, a daemon.json key flipped, the
# socket opened to everyone (host roles only: the app stays with the controller).
BROKEN = ("1.1.6", "2.2", "3.16")
# Started by hand, with none of the app's limits: the host roles leave it alone.
ROGUE = "dockhard-test-rogue"
RUN_TIMEOUT = 600
# Breaking the host takes a few seconds: the next run must not start meanwhile.
BREAK_MARGIN_S = 15


def unit(host, name: str, *properties: str) -> dict[str, str]:
    shown = run_ok(host, "systemctl", "show", name, "--property", ",".join(properties))
    return dict(line.split("=", 1) for line in shown.splitlines())


def monotonic_usec(host) -> int:
    """The host's CLOCK_MONOTONIC in microseconds, the clock of systemd's *Monotonic stamps."""
    return int(run_ok(host, "python3", "-c", "import time; print(int(time.monotonic() * 1e6))"))


def runs(host) -> list[dict]:
    """Each run of the service, from systemd's own journal entries about its start jobs:
    invocation id, start (host monotonic µs) and the job's result once it ended."""
    shown = run_ok(
        host,
        "journalctl",
        "--no-pager",
        "--output=json",
        "--output-fields=JOB_TYPE,JOB_RESULT,INVOCATION_ID",
        "--unit",
        SERVICE,
    )
    found: dict[str, dict] = {}
    for entry in map(json.loads, shown.splitlines()):
        if entry.get("JOB_TYPE") != "start":
            continue
        invocation = entry["INVOCATION_ID"]
        started = int(entry["__MONOTONIC_TIMESTAMP"])
        run = found.setdefault(invocation, {"invocation": invocation, "started": started})
        run["result"] = entry.get("JOB_RESULT")
    return list(found.values())


def wait_for_run(host, started_after: int) -> dict:
    """The first run that started after `started_after` (host monotonic µs), once it ended."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        later = [r for r in runs(host) if r["started"] > started_after]
        if later and later[0]["result"]:
            return later[0]
        time.sleep(5)
    pytest.fail(f"no run of {SERVICE} started and ended within {RUN_TIMEOUT}s")


def timer_epoch(host, prop: str) -> int:
    """A timestamp property of the timer in seconds since the epoch (`systemctl show`
    prints local time whatever --timestamp says, so date parses it; empty gives today 00:00)."""
    return int(run_ok(host, "sh", "-c", f'date -d "$(systemctl show -P {prop} {TIMER})" +%s'))


def wait_until_idle(host) -> None:
    """No run going, and the timer's next firing far enough away to break the host first."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        active = unit(host, SERVICE, "ActiveState")["ActiveState"]
        next_at = timer_epoch(host, "NextElapseUSecRealtime")
        if active != "activating" and next_at - int(run_ok(host, "date", "+%s")) > BREAK_MARGIN_S:
            return
        time.sleep(3)
    pytest.fail(f"{SERVICE} never idle between two timer runs")


def journal(host, invocation: str) -> str:
    return run_ok(
        host, "journalctl", "--no-pager", "-o", "cat", f"_SYSTEMD_INVOCATION_ID={invocation}"
    )


def report(host, suffix: str, directory: str = REPORT_DIR) -> dict:
    return json.loads(host.file(f"{directory}/{host_name(host)}{suffix}").content_string)


def status(report_data: dict) -> dict[str, str]:
    return {c["id"]: c["status"] for c in report_data["controls"]}


@pytest.fixture(scope="module")
def role_rerun(host, healed_run):
    return run_playbook(host, "site.yml", {}, "--tags", "docker_pull")


@pytest.fixture(scope="module")
def role_check(host, role_rerun):
    return run_playbook(host, "site.yml", {}, "--tags", "docker_pull", "--check", "--diff")


@pytest.fixture(scope="module")
def healed_run(host, scratch_image) -> Iterator[dict]:
    wait_until_idle(host)
    run_ok(host, "docker", "run", "-d", "--name", ROGUE, scratch_image, "sleep", "3600")
    for control in BROKEN:
        DRIFT[control](host)
    broken_at, broken_epoch = monotonic_usec(host), int(run_ok(host, "date", "+%s"))
    yield wait_for_run(host, broken_at) | {"broken_epoch": broken_epoch}
    host.run(f"docker rm -f {ROGUE}")


def test_pull_mode_timer_is_enabled_and_scheduled(host):
    timer = unit(
        host,
        TIMER,
        "ActiveState",
        "UnitFileState",
        "TimersCalendar",
        "RandomizedDelayUSec",
        "Persistent",
    )
    assert timer["ActiveState"] == "active"
    assert timer["UnitFileState"] == "enabled"
    assert "OnCalendar=*-*-* *:00/2:00" in timer["TimersCalendar"]
    assert (timer["RandomizedDelayUSec"], timer["Persistent"]) == ("5s", "yes")
    assert unit(host, SERVICE, "Type")["Type"] == "oneshot"


def test_pull_mode_inventory_is_root_only_and_from_the_controller(host):
    inventory = host.file(INVENTORY)
    assert (inventory.user, inventory.group, inventory.mode) == ("root", "root", 0o600)
    assert host.file("/etc/dockhard/pull").mode == 0o700
    hosts = yaml.safe_load(inventory.content_string)["all"]["hosts"]
    local = hosts[host_name(host)]
    assert local["ansible_connection"] == "local"
    assert local["docker_compliance_report_dir"] == REPORT_DIR
    assert local["docker_auditd_key"] == host.ansible.get_variables()["docker_auditd_key"]


def test_pull_mode_release_is_a_local_copy(host):
    current = host.file("/opt/dockhard/ansible/current")
    assert current.is_symlink
    assert host.file(f"{current.linked_to}/playbooks/pull.yml").is_file
    assert os.path.basename(current.linked_to) in run_ok(
        host, "ls", "/opt/dockhard/ansible/releases"
    )
    core = re.search(r"\[core (\d+)\.(\d+)", run_ok(host, "/usr/bin/ansible", "--version"))
    assert core, "no ansible-core on the host"
    assert (int(core[1]), int(core[2])) >= (2, 19)


def test_pull_mode_timer_heals_the_drift_without_the_controller(host, healed_run):
    triggered = timer_epoch(host, "LastTriggerUSec")
    assert triggered >= healed_run["broken_epoch"], "the run was not started by the timer"
    assert host.file("/run/docker.sock").mode == 0o660
    assert json.loads(host.file("/etc/docker/daemon.json").content_string)["icc"] is False
    rules = host.file("/etc/audit/rules.d/50-dockhard-docker.rules").content_string
    assert "-w /etc/docker -p" in rules


def test_pull_mode_report_shows_fail_before_and_pass_after(host, healed_run):
    before, after = status(report(host, ".before.json")), status(report(host, ".json"))
    assert {c: before[c] for c in BROKEN} == dict.fromkeys(BROKEN, "FAIL")
    assert set(BROKEN) <= {c for c, s in before.items() if s == "FAIL"}
    assert {c: after[c] for c in BROKEN} == dict.fromkeys(BROKEN, "PASS")
    markdown = host.file(f"{REPORT_DIR}/{host_name(host)}.md").content_string
    assert "| Before | Now |" in markdown


def test_pull_mode_reports_are_copied_to_the_operators_directory(host, healed_run):
    for suffix in (".before.json", ".json"):
        assert report(host, suffix, DESTINATION) == report(host, suffix)


def test_pull_mode_run_fails_while_a_control_still_fails(host, healed_run):
    failing = sorted(c for c, s in status(report(host, ".json")).items() if s == "FAIL")
    assert failing, "the hand-started container fails no control"
    assert all(c.split(".")[0] in ("4", "5") for c in failing), failing
    assert healed_run["result"] == "failed"
    assert host.run(f"systemctl is-failed {SERVICE}").stdout.strip() == "failed"
    assert "CIS controls still fail" in journal(host, healed_run["invocation"])


def test_pull_mode_run_logs_to_the_journal(host, healed_run):
    logged = journal(host, healed_run["invocation"])
    counts = parse_recap(logged)[host_name(host)]
    assert counts["changed"] > 0, "the run put nothing back"


def test_pull_mode_role_rerun_changes_nothing(role_rerun):
    assert role_rerun.returncode == 0, role_rerun.stdout[-3000:]
    assert recap(role_rerun)["changed"] == 0, role_rerun.stdout[-3000:]


def test_pull_mode_role_check_diff_changes_nothing(role_check):
    assert role_check.returncode == 0, role_check.stdout[-3000:]
    assert recap(role_check)["changed"] == 0, role_check.stdout[-3000:]
