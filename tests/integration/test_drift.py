"""Drift: break controls of every section, audit, --check, converge back.

Runs on the app host of molecule/default (after the other tests of that host
have passed on the converged state, and leaving it converged again) and alone
in molecule/drift.

Each step is a module fixture that depends on the one before, so the tests
run the story in order: a clean audit, the drift an intruder or a careless
admin leaves, the audit naming exactly what broke, site.yml --check showing
it without touching anything, one converge putting everything back, and a
rerun that changes nothing.
"""

from __future__ import annotations

import json
import os

import pytest
from app_stack import SECRETS_DIR
from conftest import audit_report, recap, run_ok, run_playbook

pytestmark = pytest.mark.skipif(
    os.environ.get("MOLECULE_SCENARIO_NAME") not in ("default", "drift"),
    reason="breaks the host on purpose: runs only in molecule/default and molecule/drift",
)

RULES = "/etc/audit/rules.d/50-dockhard-docker.rules"
IMDS_RULE = "DOCKER-USER -d 169.254.169.254/32 -j REJECT --reject-with icmp-port-unreachable"


def container(host, service: str) -> str:
    return run_ok(
        host,
        "docker",
        "ps",
        "--quiet",
        "--filter",
        "label=com.docker.compose.project=dockhard",
        "--filter",
        f"label=com.docker.compose.service={service}",
    ).strip()


def edit_daemon_json(host, **changes) -> None:
    """Flip keys in place, as an admin with an editor would (owner and mode kept)."""
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    config.update(changes)
    run_ok(host, "sh", "-c", f"printf '%s\\n' '{json.dumps(config)}' > /etc/docker/daemon.json")


# Each control, and what breaks it.
DRIFT = {
    "1.1.2": lambda h: run_ok(
        h, "sh", "-c", "id mallory || useradd -M mallory; gpasswd -a mallory docker"
    ),
    "1.1.6": lambda h: run_ok(h, "sed", "-i", r"\#^-w /etc/docker -p#d", RULES),
    "2.2": lambda h: edit_daemon_json(h, icc=True),
    "2.15": lambda h: edit_daemon_json(h, **{"live-restore": False}),
    "3.2": lambda h: run_ok(
        h, "sh", "-c", "chmod 0664 $(systemctl show -P FragmentPath docker.service)"
    ),
    "3.16": lambda h: run_ok(h, "chmod", "0666", "/run/docker.sock"),
    "4.5": lambda h: run_ok(h, "rm", "/etc/profile.d/dockhard-content-trust.sh"),
    "5.12": lambda h: run_ok(h, "docker", "update", "--cpu-shares", "1024", container(h, "web")),
    "5.15": lambda h: run_ok(h, "docker", "update", "--restart", "no", container(h, "web")),
    "5.29": lambda h: run_ok(h, "docker", "update", "--pids-limit", "-1", container(h, "db")),
    "X.1": lambda h: run_ok(h, "sh", "-c", f"iptables -w -D {IMDS_RULE}"),
    "X.2": lambda h: run_ok(h, "chmod", "0644", f"{SECRETS_DIR}/db_app_password"),
}


# Drift the CIS checks do not see. 1.1.5's check reads which paths are
# watched, not how: the role's read of its rules file (cis_audit managed)
# sees the weaker watch. 1.1.2's check reads /etc/group, as CIS does, not
# /etc/gshadow, whose members may newgrp docker: the catalog marks it unsafe
# to skip, so audit-first reruns always run its remediation.
WEAKER_WATCH = ("-w /var/lib/docker -p rwxa", "-w /var/lib/docker -p wa")


def weaken_watch(host) -> None:
    run_ok(host, "sed", "-i", f"s#^{WEAKER_WATCH[0]} #{WEAKER_WATCH[1]} #", RULES)


def gshadow_members(host) -> str:
    return run_ok(host, "sh", "-c", "grep '^docker:' /etc/gshadow | cut -d: -f4").strip()


def unseen_drift(host) -> None:
    weaken_watch(host)
    run_ok(
        host,
        "sh",
        "-c",
        "id eve || useradd -M eve; sed -i 's/^\\(docker:[^:]*:[^:]*:\\).*/\\1eve/' /etc/gshadow",
    )


def failing(report: dict) -> dict[str, list[str]]:
    return {c["id"]: c["evidence"] for c in report["controls"] if c["status"] == "FAIL"}


@pytest.fixture(scope="module")
def clean(host, app_deployed) -> dict:
    return audit_report(host)


@pytest.fixture(scope="module")
def drifted(host, clean) -> dict:
    for breaks in DRIFT.values():
        breaks(host)
    unseen_drift(host)
    return audit_report(host)


@pytest.fixture(scope="module")
def checked(host, drifted):
    play = run_playbook(host, "site.yml", {}, "--check", "--diff")
    return play, audit_report(host)


# Audit-first (the default, docs/reruns.md): the host was converged before,
# so each role reads first and patches only what its read found different.
@pytest.fixture(scope="module")
def remediated(host, checked):
    play = run_playbook(host, "site.yml")
    return play, audit_report(host)


# The same drift again, healed by a full converge (dockhard_full_converge).
@pytest.fixture(scope="module")
def remediated_in_full(host, remediated):
    for breaks in DRIFT.values():
        breaks(host)
    unseen_drift(host)
    play = run_playbook(host, "site.yml", {"dockhard_full_converge": True})
    return play, audit_report(host)


def test_drift_clean_host_has_no_fail(clean):
    assert failing(clean) == {}


def test_drift_every_managed_section_is_broken(clean):
    sections = {control_id.split(".")[0] for control_id in DRIFT}
    assert sections == {"1", "2", "3", "4", "5", "X"}
    assert len(DRIFT) >= 10


def test_drift_audit_reports_exactly_the_broken_controls(host, drifted):
    assert sorted(failing(drifted)) == sorted(DRIFT)
    # The unseen drift is there, and 1.1.5 passes (1.1.2 fails for mallory).
    assert WEAKER_WATCH[1] in host.file(RULES).content_string
    assert gshadow_members(host).endswith("eve")


def test_drift_evidence_names_what_changed(drifted):
    evidence = failing(drifted)
    assert "mallory" in evidence["1.1.2"][0]
    assert "eve" not in evidence["1.1.2"][0]  # /etc/gshadow is not what CIS reads
    assert "mode 0666" in evidence["3.16"][0]
    assert "daemon.json icc: true (want false)" in evidence["2.2"]
    assert "cpu shares 1024" in " ".join(evidence["5.12"])


def test_drift_check_mode_shows_the_drift_and_changes_nothing(checked, drifted):
    play, after = checked
    assert play.returncode == 0, play.stdout[-3000:]
    assert recap(play)["changed"] > 0
    assert '"icc": true' in play.stdout  # the diff of daemon.json
    assert "mallory" in play.stdout
    assert failing(after) == failing(drifted)


def test_drift_converge_puts_every_control_back(remediated):
    play, after = remediated
    assert play.returncode == 0, play.stdout[-3000:]
    assert failing(after) == {}


def test_drift_rerun_after_remediation_changes_nothing(host, remediated):
    play = run_playbook(host, "site.yml")
    assert play.returncode == 0, play.stdout[-3000:]
    assert recap(play)["changed"] == 0, play.stdout[-3000:]


def test_drift_the_roles_read_heals_what_the_checks_do_not_see(host, remediated):
    play, _after = remediated
    assert play.returncode == 0, play.stdout[-3000:]
    rules = host.file(RULES).content_string
    assert WEAKER_WATCH[0] in rules
    assert WEAKER_WATCH[1] not in rules


def test_drift_a_control_unsafe_to_skip_is_converged_although_it_passes(host, remediated):
    """1.1.2 passed with eve in /etc/gshadow (drifted); the audit-first converge removed her."""
    play, _after = remediated
    assert play.returncode == 0, play.stdout[-3000:]
    assert gshadow_members(host) == ""


def test_drift_a_full_converge_heals_the_same_drift(host, remediated_in_full):
    play, after = remediated_in_full
    assert play.returncode == 0, play.stdout[-3000:]
    assert failing(after) == {}
    assert WEAKER_WATCH[1] not in host.file(RULES).content_string
    assert gshadow_members(host) == ""
