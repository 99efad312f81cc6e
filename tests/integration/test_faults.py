"""Faults: wrong values never take the engine down, and one rerun heals a host
whose engine, app container, proxy config, secret and socket are all gone.

Runs alone in molecule/faults, on a Debian 13 app host. Each step is a module
fixture that depends on the one before, so the tests tell the story in order:

1. bad values: an unknown daemon option, a log option the log driver refuses,
   and a data-root the engine cannot use (one that only a real start can
   refuse, so the restart handler has to roll back). Each play fails with
   dockerd's own message, the engine keeps running on its previous
   daemon.json, and the app answers through the proxy all along;
2. hard drift in one go: the web container removed, the proxy config deleted,
   the app's database password deleted, daemon.json hand-edited so that the
   engine fails to start, and docker.socket stopped;
3. one rerun puts everything back (engine, containers, proxy, database in step
   with the new secret, the audit trail), and a second rerun changes nothing.
"""

from __future__ import annotations

import json
import os

import pytest
from app_stack import PROXY, SECRETS_DIR, app_containers, fetch, psql
from conftest import recap, restart_docker, run_ok, run_playbook

pytestmark = pytest.mark.skipif(
    os.environ.get("MOLECULE_SCENARIO_NAME") != "faults",
    reason="takes the engine down on purpose: runs only in molecule/faults",
)

DAEMON_JSON = "/etc/docker/daemon.json"
PROXY_CONF = "/etc/nginx/conf.d/dockhard.conf"
PROBE_RESULT = "/root/dockhard-probe.json"

# Runs on the host in the background: GET /calculate through the proxy four
# times a second (under the proxy's rate limit) until /root/dockhard-probe.stop
# appears or 10 minutes pass, then writes how many answers were right.
PROBE = f"""
import json, os, time, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
counts, errors, deadline = {{"ok": 0, "failed": 0}}, [], time.monotonic() + 600
while time.monotonic() < deadline and not os.path.exists("/root/dockhard-probe.stop"):
    try:
        with opener.open("{PROXY}/calculate?expr=2%2B3", timeout=5) as answer:
            good = answer.status == 200 and json.loads(answer.read())["result"] == 5
    except Exception as error:
        good = False
        errors.append(repr(error)[:200])
    counts["ok" if good else "failed"] += 1
    time.sleep(0.25)
json.dump({{**counts, "errors": errors[:5]}}, open("{PROBE_RESULT}", "w"))
"""


def engine_state(host) -> str:
    return host.run("systemctl is-active docker.service").stdout.strip()


NEWEST_ROW = "SELECT coalesce(max(id), 0) FROM public.request_audit"


def audit_rows(host) -> int:
    return int(psql(host, "dockhard-db-1", NEWEST_ROW))


def container_ids(host) -> dict[str, str]:
    return {service: c["Id"] for service, c in app_containers(host).items()}


def output(play) -> str:
    return play.stdout + play.stderr


@pytest.fixture(scope="module")
def baseline(host, app_deployed) -> dict:
    assert engine_state(host) == "active"
    return {
        "daemon_json": host.file(DAEMON_JSON).content_string,
        "containers": container_ids(host),
    }


@pytest.fixture(scope="module")
def bad_values(host, baseline) -> dict:
    """Three plays with wrong daemon options, while a probe uses the app."""
    run_ok(host, "rm", "-f", "/root/dockhard-probe.stop", PROBE_RESULT)
    run_ok(host, "sh", "-c", f"nohup python3 -c '{PROBE}' >/dev/null 2>&1 &")
    cases = {
        "unknown option": {"no-such-daemon-option": True},
        "log option": {"log-opts": {"max-size": "tenmegs"}},
        "data-root": {"data-root": "/etc/hostname/docker"},
    }
    results = {}
    for name, options in cases.items():
        play = run_playbook(host, "site.yml", {"docker_daemon_options": options})
        results[name] = {
            "play": play,
            "engine": engine_state(host),
            "daemon_json": host.file(DAEMON_JSON).content_string,
        }
    run_ok(host, "touch", "/root/dockhard-probe.stop")
    run_ok(
        host,
        "sh",
        "-c",
        f"for i in $(seq 30); do [ -s {PROBE_RESULT} ] && exit 0; sleep 1; done; exit 1",
    )
    results["probe"] = json.loads(host.file(PROBE_RESULT).content_string)
    return results


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown option", "don't match any configuration option: no-such-daemon-option"),
        ("log option", "unknown log opt 'max-size' for journald log driver"),
        ("data-root", "/etc/hostname"),
    ],
)
def test_faults_bad_value_fails_the_play_with_the_engines_message(bad_values, case, message):
    play = bad_values[case]["play"]
    assert play.returncode != 0, output(play)[-3000:]
    assert message in output(play), output(play)[-3000:]


@pytest.mark.parametrize("case", ["unknown option", "log option", "data-root"])
def test_faults_engine_keeps_running_on_its_previous_daemon_json(bad_values, baseline, case):
    assert bad_values[case]["engine"] == "active"
    assert bad_values[case]["daemon_json"] == baseline["daemon_json"]


def test_faults_engine_that_did_not_come_back_was_rolled_back(bad_values):
    # The throwaway dockerd cannot check the real data-root, so the real
    # restart failed and the handler put the last good file back.
    assert "runs again on the last daemon.json" in output(bad_values["data-root"]["play"])


def test_faults_app_answered_throughout(host, bad_values, baseline):
    probe = bad_values["probe"]
    assert probe["ok"] > 20, probe
    assert probe["failed"] == 0, probe
    # live-restore: the containers were never restarted.
    assert container_ids(host) == baseline["containers"]


def break_hard(host) -> None:
    """Everything at once: no web container, proxy config, secret or running engine."""
    run_ok(host, "docker", "rm", "--force", "dockhard-web-1")
    run_ok(host, "rm", PROXY_CONF)
    run_ok(host, "systemctl", "reload", "nginx")
    run_ok(host, "rm", f"{SECRETS_DIR}/db_app_password")
    config = json.loads(host.file(DAEMON_JSON).content_string)
    config["log-opts"] = {"max-size": "tenmegs"}  # journald refuses it: dockerd will not start
    run_ok(host, "sh", "-c", f"printf '%s\\n' '{json.dumps(config)}' > {DAEMON_JSON}")
    assert (
        host.run("systemctl reset-failed docker.service; systemctl restart docker.service").rc != 0
    )
    run_ok(host, "systemctl", "stop", "docker.socket")
    assert engine_state(host) != "active"


@pytest.fixture(scope="module")
def hard_drift(host, bad_values) -> int:
    """The hard drift; returns the newest audit row before the rerun."""
    rows = audit_rows(host)
    break_hard(host)
    return rows


# Audit-first, the default (docs/reruns.md): the host was converged before.
@pytest.fixture(scope="module")
def healed(host, hard_drift):
    return run_playbook(host, "site.yml")


def test_faults_hard_drift_left_the_engine_down(host, hard_drift):
    assert not host.file(PROXY_CONF).exists
    assert not host.file(f"{SECRETS_DIR}/db_app_password").exists


def test_faults_one_rerun_heals_the_host(healed):
    assert healed.returncode == 0, output(healed)[-4000:]


def test_faults_engine_runs_with_the_hardened_settings(host, healed, baseline):
    assert engine_state(host) == "active"
    assert host.service("docker.socket").is_running
    assert host.file(DAEMON_JSON).content_string == baseline["daemon_json"]
    info = json.loads(run_ok(host, "docker", "info", "--format", "{{json .}}"))
    assert info["LiveRestoreEnabled"] is True
    assert info["LoggingDriver"] == "journald"


def test_faults_both_containers_are_healthy(host, healed):
    states = {s: c["State"]["Health"]["Status"] for s, c in app_containers(host).items()}
    assert states == {"db": "healthy", "web": "healthy"}


def test_faults_app_answers_through_the_proxy(host, healed):
    status, body, _ = fetch(host, "/calculate?expr=2%2B3")
    assert (status, body["result"]) == (200, 5)


def test_faults_database_is_in_step_with_the_new_secret(host, healed):
    assert host.file(f"{SECRETS_DIR}/db_app_password").exists
    status, body, _ = fetch(host, "/healthz")
    assert (status, body.get("db")) == (200, "ok"), body


def test_faults_audit_rows_are_written_again(host, healed, hard_drift):
    assert fetch(host, "/?name=faults")[0] == 200
    run_ok(
        host,
        "sh",
        "-c",
        "for i in $(seq 30); do n=$(docker exec dockhard-db-1 psql -X -tA -U postgres -d dockhard "
        f"-c '{NEWEST_ROW}'); [ \"$n\" -gt {hard_drift} ] && exit 0; sleep 1; done; exit 1",
    )


def test_faults_second_rerun_changes_nothing(host, healed):
    play = run_playbook(host, "site.yml")
    assert play.returncode == 0, output(play)[-3000:]
    assert recap(play)["changed"] == 0, play.stdout[-4000:]


def test_faults_restart_by_hand_still_works(host, healed):
    # The last good daemon.json is the hardened one: an admin's restart comes back.
    restart_docker(host)
    assert engine_state(host) == "active"
    # live-restore: the containers ran through it and turn healthy again.
    healthy = (
        "for i in $(seq 90); do"
        ' [ "$(docker ps --filter health=healthy --quiet | wc -l)" = 2 ] && exit 0;'
        " sleep 1; done; docker ps; exit 1"
    )
    run_ok(host, "sh", "-c", healthy)


def test_faults_a_full_converge_heals_the_same_faults(host, healed):
    """The same hard drift, healed by a full converge (dockhard_full_converge)."""
    break_hard(host)
    play = run_playbook(host, "site.yml", {"dockhard_full_converge": True})
    assert play.returncode == 0, output(play)[-4000:]
    assert engine_state(host) == "active"
    states = {s: c["State"]["Health"]["Status"] for s, c in app_containers(host).items()}
    assert states == {"db": "healthy", "web": "healthy"}
    status, body, _ = fetch(host, "/calculate?expr=2%2B3")
    assert (status, body["result"]) == (200, 5)
