"""Benchmarks of dockhard (issue 8): what a converge costs and how the app performs.

Usage: .venv/bin/python scripts/bench.py [--quick] [--registry-only] [--reruns-only] [--json PATH]

Measures on this machine, with disposable host containers named dockhard-bench-*
(playbooks/local_host.yml, image dockhard/host:trixie) that are always removed
at the end, also on failure or Ctrl-C:

- single host: first converge of playbooks/site.yml on a fresh host, the
  no-drift rerun (changed must be 0) and the --check run; the ratio rerun/first
  and the slowest tasks of the rerun (profile_tasks);
- fleet: first converge of 1, 4 and 8 fresh hosts (host roles only: no
  app_hosts) in one run with the forks of ansible.cfg, and the ratio 8/1;
- app: requests/s and p50/p99 latency of the hardened stack through nginx and
  of the original app (files/original/) on Flask's dev server, driven by the
  same load generator (scripts/bench_load.py) inside the host container, in
  the same run; the time the hardened app takes to refuse 9**9**9;
- image sizes: the hardened web image vs a naive single-stage build of the
  same app on the same base;
- registry mode (docs/registry.md): the first converge of a fresh app host
  that pulls the app images by digest from a TLS registry on a build host
  (molecule/shared/prepare_registry.yml, then playbooks/build.yml, timed
  apart), against the on-host build's first converge. `--registry-only` runs
  just this part;
- reruns (issue 20, docs/reruns.md): no-drift reruns of the app host and of the
  largest fleet, a full converge and an audit-first one interleaved: wall time,
  the controller's CPU seconds (ansible-playbook's process tree, per host too)
  and the machine's busy CPU seconds. `--reruns-only` runs just this part, on
  fresh hosts, and adds it to the record.

Each figure is the median of its runs, with min and max. The full run keeps to
30 minutes on 2 cores: the first converge (minutes on a fresh host) is repeated
on further fresh hosts only while that budget allows; --quick does one of each
and smaller fleets. Prints Markdown tables and writes reports/bench.json; the
output of every command goes to reports/bench-logs/. No figure is asserted:
each goal is reported as met or missed.

A full run that completes is also the new record of the benchmark: it is copied
to docs/src/bench.json (committed, with the machine, the date and the commit)
and scripts/gen_docs.py renders docs/performance.md and the README's table from
it. --quick runs, failed runs and runs that skipped a fleet size leave the
record alone.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import json
import os
import platform
import re
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

import yaml
from ansible_recap import parse_recap, recap_total
from bench_tables import (
    ENDPOINTS,
    EXHAUSTION_PATH,
    GOALS,
    ORIGINAL_EXHAUSTION_TIMEOUT,
    render,
)

REPO = Path(__file__).resolve().parent.parent
PREFIX = "dockhard-bench-"
HOST_IMAGE = "dockhard/host:trixie"
PLAYBOOK = "playbooks/site.yml"
BUILD_PLAYBOOK = "playbooks/build.yml"
REGISTRY_PREPARE = "molecule/shared/prepare_registry.yml"
REGISTRY_NETWORK = f"{PREFIX}net"
REGISTRY_HUB = f"{PREFIX}hub"
REGISTRY_APP = f"{PREFIX}registry-app"
LOAD_SCRIPT = REPO / "scripts" / "bench_load.py"
ORIGINAL_DIR = REPO / "files" / "original"
ORIGINAL_PORT = 15001
APP_DEFAULTS = yaml.safe_load((REPO / "roles" / "docker_app" / "defaults" / "main.yml").read_text())
# nginx's loopback listener on the host, whatever docker_app_proxy_listen serves.
HARDENED_URL = f"http://{APP_DEFAULTS['docker_app_proxy_local_listen']}"
ORIGINAL_URL = f"http://127.0.0.1:{ORIGINAL_PORT}"
# gunicorn itself, bypassing nginx, on its unix socket in the host folder
# docker_app_socket_dir (root may connect; nginx is the only other user): where the time goes.
GUNICORN_URL = "http+unix://" + quote(f"{APP_DEFAULTS['docker_app_socket_dir']}/app.sock", safe="")
WEB_CONTAINER = "dockhard-web-1"  # compose project "dockhard", service "web"
WHEEL_CACHE = Path.home() / ".cache" / "dockhard" / "bench"
# pip platform tag per architecture: the role's own table (docker_app_wheel_platforms).
APP_ROLE_VARS = REPO / "roles" / "docker_app" / "vars" / "main.yml"
RECORD = REPO / "docs" / "src" / "bench.json"
GEN_DOCS = REPO / "scripts" / "gen_docs.py"
VENV_BIN = Path(sys.executable).parent
# Files inside the host container: under /var/tmp, since docker cp cannot write
# into its /tmp (a tmpfs mount).
REMOTE_DIR = "/var/tmp/dockhard-bench"  # noqa: S108 - the host container's own
REMOTE_LOAD_SCRIPT = f"{REMOTE_DIR}/bench_load.py"
REMOTE_ORIGINAL_CONTEXT = f"{REMOTE_DIR}/original"
REMOTE_NAIVE_DOCKERFILE = f"{REMOTE_DIR}/naive.Dockerfile"
BENCH_BASE = "dockhard-bench/base-builder:latest"
ORIGINAL_IMAGE = "dockhard-bench/original:latest"
NAIVE_IMAGE = "dockhard-bench/naive:latest"
ORIGINAL_CONTAINER = "dockhard-bench-original"
# The proxy allows 20 r/s per client address by default (docker_app_proxy_rate):
# a load test from one address would measure that limiter, not the stack. The
# throughput runs lift it through the role's own variables; one extra run shows
# the limiter as deployed.
LIFTED_LIMITS = {
    "docker_app_proxy_rate": "100000r/s",
    "docker_app_proxy_burst": 100000,
    "docker_app_proxy_max_connections": 1000,
}
# Rough memory of one converged host (systemd, dockerd, containerd) plus headroom
# for the controller; the fleet sizes that do not fit are skipped and reported.
HOST_MEMORY_BYTES = 600 * 1024**2
CPUS = os.cpu_count() or 1
CONTROLLER_RESERVE_BYTES = 2 * 1024**3
ORIGINAL_DOCKERFILE = """\
# files/original/Dockerfile on the local Debian base: python:3.9-alpine cannot
# be pulled here and pip cannot reach PyPI from a container, so Flask==3.0.3
# comes from a wheelhouse the controller downloaded.
FROM {base}
RUN useradd --create-home appuser
WORKDIR /app
COPY wheelhouse/ /wheelhouse/
COPY requirements.txt .
RUN python3 -m venv /venv && /venv/bin/pip install --no-cache-dir --no-index \\
    --find-links /wheelhouse -r requirements.txt
COPY app.py .
USER appuser
EXPOSE 5000
CMD ["/venv/bin/python", "app.py"]
"""
# A naive single-stage build of the hardened app on the same base: runtime
# packages added with apt, the whole build context (wheelhouse included) copied,
# pip and apt lists kept.
NAIVE_DOCKERFILE = """\
FROM {base}
RUN apt-get update && apt-get install -y iputils-ping libpq5 ca-certificates
WORKDIR /app
COPY . /app
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-index \\
    --find-links /app/wheelhouse -r /app/requirements.txt
ENV PATH=/opt/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["python3", "-m", "gunicorn", "-c", "/app/gunicorn.conf.py"]
"""
RSS_SCRIPT = """
import glob
total = 0
for path in glob.glob("/proc/[0-9]*/status"):
    try:
        with open(path) as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    except OSError:
        pass
print(total)
"""
TASK_HEADER = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?P<name>.+)\] \**$")
TASK_LINE = re.compile(r"^(?P<name>.+) -+ (?P<seconds>\d+(?:\.\d+)?)s$")


@dataclass(frozen=True)
class Profile:
    """How many repetitions and how much load; --quick picks the small one."""

    name: str
    first_runs_max: int  # further first converges only while budget_s allows
    budget_s: float
    reruns: int  # on the first host
    checks: int
    fleet_sizes: tuple[int, ...]
    fleet_runs: int
    load_runs: int
    load_seconds: float
    load_requests: int
    load_concurrency: int
    refuse_runs: int


# The full run must end within 30 minutes on 2 cores from a fresh clone (issue
# 8); the venv and the host image take a few of them before this script starts.
FULL = Profile("full", 3, 25 * 60, 2, 1, (1, 4, 8), 1, 3, 5.0, 20000, 8, 9)
QUICK = Profile("quick", 1, 0, 1, 1, (1, 2), 1, 1, 2.0, 5000, 8, 3)


# --- pure helpers (unit tested) ---------------------------------------------


def summarize(values: Iterable[float]) -> dict[str, float | int | list[float]] | None:
    """Median, min, max and the runs themselves; None when there is no value."""
    runs = [float(v) for v in values]
    if not runs:
        return None
    return {
        "median": statistics.median(runs),
        "min": min(runs),
        "max": max(runs),
        "n": len(runs),
        "runs": runs,
    }


def ratio(numerator: dict | None, denominator: dict | None) -> float | None:
    """Ratio of two medians, None when either is missing or the denominator is 0."""
    if not numerator or not denominator or not denominator["median"]:
        return None
    return numerator["median"] / denominator["median"]


def parse_changed_tasks(text: str) -> list[str]:
    """Names of the tasks that reported changed on some host, in run order."""
    changed: list[str] = []
    task = ""
    for line in text.splitlines():
        match = TASK_HEADER.match(line)
        if match:
            task = match["name"]
        elif line.startswith("changed: [") and task and task not in changed:
            changed.append(task)
    return changed


def parse_task_times(text: str) -> list[tuple[str, float]]:
    """Task name and seconds from the TASKS RECAP that profile_tasks prints."""
    tasks: list[tuple[str, float]] = []
    in_recap = False
    for line in text.splitlines():
        if line.startswith("TASKS RECAP"):
            in_recap = True
            continue
        if in_recap:
            match = TASK_LINE.match(line.strip())
            if match:
                tasks.append((match["name"], float(match["seconds"])))
    return tasks


def slowest_tasks(runs: Sequence[Sequence[tuple[str, float]]], limit: int = 10) -> list[dict]:
    """Tasks by their median time over the runs that listed them, slowest first."""
    times: dict[str, list[float]] = {}
    for run in runs:
        for name, seconds in run:
            times.setdefault(name, []).append(seconds)
    ranked = sorted(times.items(), key=lambda item: (-statistics.median(item[1]), item[0]))
    return [
        {"task": name, "median_s": statistics.median(values), "max_s": max(values)}
        for name, values in ranked[:limit]
    ]


def inventory(template_vars: dict, hosts: Sequence[str], app_hosts: Sequence[str]) -> dict:
    """An inventory shaped like inventory/local/hosts.yml for the given host containers."""
    return {
        "docker_hosts": {"hosts": {name: dict(template_vars) for name in hosts}},
        "app_hosts": {"hosts": {name: None for name in app_hosts}},
    }


def registry_inventory(template_vars: dict, hub: str, app_host: str, test_dir: Path) -> dict:
    """The build host with its test registry, and an app host in registry mode."""
    data = inventory(template_vars, [app_host], [app_host])
    data["build_hosts"] = {"hosts": {hub: dict(template_vars)}}
    data["app_hosts"]["vars"] = {"docker_app_image_source": "registry"}
    data["all"] = {
        "vars": {
            "dockhard_test_dir": str(test_dir),
            "docker_app_registry": f"{hub}:5000",
            "docker_app_registry_username": "dockhard-bench",
            "docker_app_registry_password": (
                "{{ lookup('ansible.builtin.password', dockhard_test_dir ~ '/registry-password',"
                " length=24, chars=['ascii_letters', 'digits']) }}"
            ),
            "docker_app_registry_ca": str(test_dir / "registry-ca.crt"),
            "docker_app_images_file": str(test_dir / "app-images.json"),
        }
    }
    return data


def host_template_vars(local_inventory: dict) -> dict:
    """Connection variables of the first docker_hosts host in inventory/local/hosts.yml."""
    hosts = local_inventory["docker_hosts"]["hosts"]
    return dict(next(iter(hosts.values())) or {})


def meminfo_bytes(text: str, key: str) -> int | None:
    """A /proc/meminfo field in bytes."""
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name == key:
            value, *unit = rest.split()
            return int(value) * (1024 if unit == ["kB"] else 1)
    return None


def mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 1024**2:.0f} MiB"


# --- running things ---------------------------------------------------------


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def ansible_forks() -> int:
    """forks from ansible.cfg (what every run here uses); Ansible's default 5 if unset."""
    config = configparser.ConfigParser()
    config.read(REPO / "ansible.cfg")
    return config.getint("defaults", "forks", fallback=5)


def available_memory() -> int | None:
    try:
        return meminfo_bytes(Path("/proc/meminfo").read_text(), "MemAvailable")
    except OSError:
        return None


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def children_cpu_seconds() -> float:
    """User + system CPU of this process's finished children and their descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rerun_modes_summary(measured: dict[str, dict[str, list]], hosts: int) -> dict:
    """Per mode: wall, controller CPU (per host too) and machine busy seconds; the
    audit-first/full ratios of wall time and of controller CPU per host."""
    summary: dict = {"hosts": hosts}
    for mode, runs in measured.items():
        summary[mode] = {
            "wall_s": summarize(runs["wall"]),
            "cpu_s": summarize(runs["cpu"]),
            "cpu_per_host_s": summarize(v / hosts for v in runs["cpu"]),
            "busy_s": summarize(runs["busy"]),
            "changed": runs["changed"],
        }
    for key in ("wall_s", "cpu_per_host_s"):
        summary[f"ratio_{key}"] = ratio(summary["audit_first"][key], summary["full"][key])
    return summary


def cpu_busy_seconds(stat_text: str | None = None) -> float:
    """CPU time the whole machine spent busy since boot (every core; /proc/stat)."""
    text = stat_text if stat_text is not None else Path("/proc/stat").read_text()
    fields = [int(v) for v in text.splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # guest time is already in user
    return busy / os.sysconf("SC_CLK_TCK")


class Interrupted(Exception):
    """SIGTERM: stop measuring, but still remove the hosts."""


def _interrupt(signum: int, _frame: object) -> None:
    raise Interrupted(f"signal {signum}")


@dataclass
class PlaybookRun:
    seconds: float
    recap: dict[str, dict[str, int]]
    tasks: list[tuple[str, float]]
    changed_tasks: list[str]
    # CPU seconds (user + sys) of ansible-playbook's process tree on the
    # controller, and of the whole machine (hosts included) during the run.
    cpu_s: float = 0.0
    busy_s: float = 0.0


# No-drift reruns side by side (issue 20): the audit-first default, and a full
# converge of every control.
RERUN_MODES = {"full": ["-e", "dockhard_full_converge=true"], "audit_first": []}


SINGLE_RUN_KEYS = (
    "first",
    "rerun",
    "check",
    "rerun_tasks",
    "rerun_changed",
    "rerun_changed_tasks",
    "check_changed",
    "check_changed_tasks",
)


@dataclass
class Bench:
    profile: Profile
    log_dir: Path
    work_dir: Path
    created: set[str] = field(default_factory=set)
    networks: set[str] = field(default_factory=set)
    counter: int = 0
    # Runs of the single-host figures: first, rerun, check, their changed counts
    # and the rerun's task times.
    single: dict[str, list] = field(default_factory=lambda: {k: [] for k in SINGLE_RUN_KEYS})
    fleet_reruns: dict | None = None

    def run(
        self, argv: Sequence[str], label: str, check: bool = True, timeout: float = 1800
    ) -> subprocess.CompletedProcess[str]:
        """Run a command from the repository, its output kept in a log file."""
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0")
        result = subprocess.run(  # noqa: S603 - argv lists built here, no shell
            list(argv), cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
        )
        self.counter += 1
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-")
        (self.log_dir / f"{self.counter:03d}-{safe}.log").write_text(
            f"$ {shlex.join(argv)}\nrc={result.returncode}\n--- stdout\n{result.stdout}"
            f"\n--- stderr\n{result.stderr}"
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{label} failed (rc {result.returncode}): {shlex.join(argv)}\n"
                f"{(result.stderr or result.stdout)[-2000:]}"
            )
        return result

    def host(self, name: str, *argv: str, label: str) -> str:
        """Run a command inside a host container; its stdout."""
        return self.run(["docker", "exec", name, *argv], label).stdout

    def playbook(self, inventory_file: Path, label: str, *args: str) -> PlaybookRun:
        """One timed ansible-playbook run; fails on a failed or unreachable host."""
        argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory_file), *args]
        start, busy, tree = time.monotonic(), cpu_busy_seconds(), children_cpu_seconds()
        result = self.run(argv, label, check=False, timeout=3600)
        seconds = time.monotonic() - start
        busy, tree = cpu_busy_seconds() - busy, children_cpu_seconds() - tree
        recap = parse_recap(result.stdout)
        if result.returncode != 0 or recap_total(recap, "failed") or not recap:
            raise RuntimeError(
                f"{label}: ansible-playbook failed (rc {result.returncode}), see {self.log_dir}"
            )
        say(f"  {label}: {seconds:.1f} s, changed={recap_total(recap, 'changed')}")
        text = result.stdout
        tasks, changed = parse_task_times(text), parse_changed_tasks(text)
        return PlaybookRun(seconds, recap, tasks, changed, cpu_s=tree, busy_s=busy)

    # Hosts ---------------------------------------------------------------

    def local_hosts(self, names: Sequence[str], state: str, network: str | None = None) -> None:
        on = {"network": network} if network else {}
        spec = {
            "dockhard_local_hosts": [{"name": n, "image": HOST_IMAGE, **on} for n in names],
            "dockhard_local_host_state": state,
        }
        if state == "started":
            self.created.update(names)
        argv = [str(VENV_BIN / "ansible-playbook"), "playbooks/local_host.yml"]
        self.run([*argv, "-e", json.dumps(spec)], f"hosts-{state}-{names[0]}")
        if state == "absent":
            self.created.difference_update(names)

    def fresh_hosts(self, names: Sequence[str], network: str | None = None) -> None:
        """Start new host containers; refuse to reuse one an aborted run left."""
        listed = self.run(["docker", "ps", "--all", "--format", "{{.Names}}"], "containers")
        clash = sorted(set(names) & set(listed.stdout.split()))
        if clash:
            raise RuntimeError(
                "host containers left by an earlier run: " + " ".join(clash) + "\nremove them: "
                "docker rm --force --volumes " + " ".join(clash)
            )
        self.local_hosts(names, "started", network)

    def remove_all(self) -> None:
        if self.created:
            say(f"removing host containers: {' '.join(sorted(self.created))}")
            self.local_hosts(sorted(self.created), "absent")
        for network in sorted(self.networks):
            self.run(["docker", "network", "rm", network], f"network-rm-{network}")
            self.networks.discard(network)

    def write_inventory(self, name: str, hosts: Sequence[str], app_hosts: Sequence[str]) -> Path:
        local = yaml.safe_load((REPO / "inventory" / "local" / "hosts.yml").read_text())
        path = self.work_dir / f"{name}.yml"
        data = inventory(host_template_vars(local), hosts, app_hosts)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def host_rss(self, name: str) -> int:
        """Resident memory of every process in a host container (its nested containers
        included), from its own /proc: docker stats shows 0 B for these systemd
        containers here. Shared pages count once per process, so this is an upper bound."""
        out = self.host(name, "python3", "-c", RSS_SCRIPT, label="rss")
        return int(out.strip())

    # Phases --------------------------------------------------------------

    def converge_fresh(self, index: int, reruns: int, checks: int) -> str:
        """First converge of a fresh app host, then no-drift reruns and --check runs."""
        runs = self.single
        name = f"{PREFIX}single-{index}"
        say(f"single host {index}: {name}")
        self.fresh_hosts([name])
        inv = self.write_inventory(name, [name], [name])
        runs["first"].append(self.playbook(inv, f"first-{index}", PLAYBOOK).seconds)
        for n in range(1, reruns + 1):
            run = self.playbook(inv, f"rerun-{index}.{n}", PLAYBOOK)
            runs["rerun"].append(run.seconds)
            runs["rerun_tasks"].append(run.tasks)
            runs["rerun_changed"].append(recap_total(run.recap, "changed"))
            runs["rerun_changed_tasks"].append(run.changed_tasks)
        for n in range(1, checks + 1):
            run = self.playbook(inv, f"check-{index}.{n}", PLAYBOOK, "--check")
            runs["check"].append(run.seconds)
            runs["check_changed"].append(recap_total(run.recap, "changed"))
            runs["check_changed_tasks"].append(run.changed_tasks)
        return name

    def more_single_runs(self, started: float) -> None:
        """Further fresh hosts (first converge, one rerun, one check) while the budget
        allows: a first converge takes minutes, so it is the figure repeated last."""
        p = self.profile
        index = 2
        while index <= p.first_runs_max:
            runs = self.single
            estimate = sum(statistics.median(runs[k]) for k in ("first", "rerun", "check")) + 30
            left = p.budget_s - (time.monotonic() - started)
            if estimate > left:
                say(f"no further first converge: ~{estimate:.0f} s needed, {left:.0f} s left")
                break
            name = self.converge_fresh(index, 1, 1)
            self.local_hosts([name], "absent")
            index += 1

    def rerun_modes(self, inv: Path, label: str, runs: int, hosts: int) -> dict:
        """No-drift reruns in full and audit-first mode, interleaved, on converged hosts."""
        measured: dict[str, dict[str, list]] = {
            mode: {"wall": [], "cpu": [], "busy": [], "changed": []} for mode in RERUN_MODES
        }
        for n in range(1, runs + 1):
            for mode, extra in RERUN_MODES.items():
                run = self.playbook(inv, f"{label}-{mode}-{n}", PLAYBOOK, *extra)
                measured[mode]["wall"].append(run.seconds)
                measured[mode]["cpu"].append(run.cpu_s)
                measured[mode]["busy"].append(run.busy_s)
                measured[mode]["changed"].append(recap_total(run.recap, "changed"))
        return rerun_modes_summary(measured, hosts)

    def reruns_alone(self) -> dict:
        """--reruns-only: a fresh app host and a fresh fleet of the largest size, converged,
        then their no-drift reruns in both modes."""
        p = self.profile
        name = f"{PREFIX}reruns"
        self.fresh_hosts([name])
        inv = self.write_inventory(name, [name], [name])
        self.playbook(inv, "reruns-first", PLAYBOOK)
        single = self.rerun_modes(inv, "reruns-single", p.reruns, 1)
        self.local_hosts([name], "absent")
        size = max(p.fleet_sizes)
        names = [f"{PREFIX}reruns{size}-{n}" for n in range(1, size + 1)]
        self.fresh_hosts(names)
        inv = self.write_inventory(f"reruns{size}", names, [])
        self.playbook(inv, f"reruns-fleet{size}-first", PLAYBOOK)
        fleet = self.rerun_modes(inv, f"reruns-fleet{size}", 1, size)
        self.local_hosts(names, "absent")
        return {"single": single, "fleet": fleet}

    def registry_mode(self) -> dict:
        """First converge of a fresh app host in registry mode: the build host's
        registry set up and filled first (playbooks/build.yml, timed apart)."""
        self.run(["docker", "network", "create", REGISTRY_NETWORK], "network-create")
        self.networks.add(REGISTRY_NETWORK)
        say(f"registry mode: {REGISTRY_HUB} builds and pushes, {REGISTRY_APP} pulls")
        self.fresh_hosts([REGISTRY_HUB, REGISTRY_APP], REGISTRY_NETWORK)
        local = yaml.safe_load((REPO / "inventory" / "local" / "hosts.yml").read_text())
        test_dir = self.work_dir / "registry"
        test_dir.mkdir()
        data = registry_inventory(host_template_vars(local), REGISTRY_HUB, REGISTRY_APP, test_dir)
        inv = self.work_dir / "registry.yml"
        inv.write_text(yaml.safe_dump(data, sort_keys=False))
        prepare = self.playbook(inv, "registry-prepare", REGISTRY_PREPARE)
        build = self.playbook(inv, "registry-build", BUILD_PLAYBOOK)
        first = self.playbook(inv, "registry-first", PLAYBOOK)
        rerun = self.playbook(inv, "registry-rerun", PLAYBOOK)
        self.local_hosts([REGISTRY_HUB, REGISTRY_APP], "absent")
        return {
            "prepare_s": round(prepare.seconds, 1),
            "build_s": round(build.seconds, 1),
            "first_converge_s": summarize([first.seconds]),
            "rerun_changed": [recap_total(rerun.recap, "changed")],
        }

    def single_summary(self) -> dict:
        runs = self.single
        first_s, rerun_s = summarize(runs["first"]), summarize(runs["rerun"])
        return {
            "first_converge_s": first_s,
            "rerun_s": rerun_s,
            "check_s": summarize(runs["check"]),
            "rerun_changed": runs["rerun_changed"],
            "check_changed": runs["check_changed"],
            "rerun_changed_tasks": runs["rerun_changed_tasks"],
            "check_changed_tasks": runs["check_changed_tasks"],
            "rerun_ratio": ratio(rerun_s, first_s),
            "rerun_slowest_tasks": slowest_tasks(runs["rerun_tasks"]),
        }

    def fleet(self) -> dict:
        """First converge of n fresh hosts (host roles only) per fleet size."""
        p = self.profile
        sizes: dict[str, dict] = {}
        for size in p.fleet_sizes:
            times: list[float] = []
            busy: list[float] = []
            memory: list[float] = []
            tasks: list[list[tuple[str, float]]] = []
            available = available_memory()
            need = size * HOST_MEMORY_BYTES + CONTROLLER_RESERVE_BYTES
            if available is not None and available < need:
                say(f"fleet of {size}: skipped, {mib(available)} available, {mib(need)} needed")
                sizes[str(size)] = {"skipped": f"{mib(available)} available, {mib(need)} needed"}
                continue
            for index in range(1, p.fleet_runs + 1):
                available = available_memory()
                names = [f"{PREFIX}fleet{size}-{index}-{n}" for n in range(1, size + 1)]
                say(f"fleet of {size}, run {index}/{p.fleet_runs}")
                self.fresh_hosts(names)
                inv = self.write_inventory(f"fleet{size}-{index}", names, [])
                busy_before = cpu_busy_seconds()
                run = self.playbook(inv, f"fleet{size}-{index}", PLAYBOOK)
                busy.append(cpu_busy_seconds() - busy_before)
                times.append(run.seconds)
                tasks.append(run.tasks)
                memory.append(sum(self.host_rss(n) for n in names))
                if size == max(p.fleet_sizes) and index == 1:
                    self.fleet_reruns = self.rerun_modes(inv, f"fleet{size}-reruns", 1, size)
                self.local_hosts(names, "absent")
            sizes[str(size)] = {
                "converge_s": summarize(times),
                # Machine-wide CPU the converge kept busy: when it nears cores x
                # wall time, more parallelism cannot help, only less work per host.
                "cpu_busy_s": summarize(busy),
                "cpu_utilisation": statistics.median(busy) / statistics.median(times) / CPUS,
                "hosts_rss_bytes": summarize(memory),
                "available_before_bytes": available,
                "slowest_tasks": slowest_tasks(tasks, 5),
            }
        largest = max(p.fleet_sizes)
        return {
            "forks": ansible_forks(),
            "sizes": sizes,
            "largest": largest,
            "ratio_largest_to_1": ratio(
                sizes.get(str(largest), {}).get("converge_s"), sizes.get("1", {}).get("converge_s")
            ),
        }

    # The app -------------------------------------------------------------

    def load(self, name: str, url: str, label: str, **options: float) -> dict:
        """One run of the load generator inside the host container."""
        p = self.profile
        settings = {
            "duration": p.load_seconds,
            "concurrency": p.load_concurrency,
            "requests": p.load_requests,
            "timeout": 10.0,
            **options,
        }
        argv = ["python3", REMOTE_LOAD_SCRIPT, url]
        for key, value in settings.items():
            argv += [f"--{key}", str(value)]
        return json.loads(self.host(name, *argv, label=f"load-{label}"))

    def app(self, name: str) -> dict:
        """Hardened stack through nginx vs the original app, same generator, same run."""
        p = self.profile
        self.host(name, "mkdir", "-p", REMOTE_DIR, label="mkdir")
        self.run(["docker", "cp", str(LOAD_SCRIPT), f"{name}:{REMOTE_LOAD_SCRIPT}"], "copy-load")
        say("app: one run with the proxy's per-client limits as deployed")
        as_deployed = self.load(name, HARDENED_URL + ENDPOINTS[0], "as-deployed")
        say("app: lifting the proxy's per-client limits (playbooks/app.yml)")
        inv = self.work_dir / f"{name}.yml"
        self.playbook(inv, "app-lifted", "playbooks/app.yml", "-e", json.dumps(LIFTED_LIMITS))
        say("app: building and starting the original app")
        self.start_original(name)
        urls = {"hardened": HARDENED_URL, "original": ORIGINAL_URL, "gunicorn": GUNICORN_URL}
        samples: dict[tuple[str, str], list[dict]] = {}
        throttled_before = self.web_cpu_stat(name)
        for target, url in urls.items():  # warm-up, not counted
            for path in ENDPOINTS:
                self.load(name, url + path, f"warmup-{target}", duration=1.0)
        for index in range(1, p.load_runs + 1):
            say(f"app: load run {index}/{p.load_runs}")
            # Interleaved, so both face the same background load.
            for path in ENDPOINTS:
                for target, url in urls.items():
                    run = self.load(name, url + path, f"{target}-{index}")
                    samples.setdefault((target, path), []).append(run)
        throttled = cpu_stat_delta(throttled_before, self.web_cpu_stat(name))
        say("app: time to refuse 9**9**9")
        refuse = [
            self.load(name, HARDENED_URL + EXHAUSTION_PATH, "refuse", concurrency=1, requests=1)
            for _ in range(p.refuse_runs)
        ]
        # Last, as it leaves the original's CPU busy: it really evaluates 9**9**9.
        original_refuse = self.load(
            name,
            ORIGINAL_URL + EXHAUSTION_PATH,
            "original-refuse",
            concurrency=1,
            requests=1,
            timeout=ORIGINAL_EXHAUSTION_TIMEOUT,
        )
        self.host(name, "docker", "rm", "--force", ORIGINAL_CONTAINER, label="rm-original")
        endpoints: dict[str, dict] = {}
        for path in ENDPOINTS:
            entry: dict = {target: app_summary(samples[(target, path)]) for target in urls}
            entry["speedup"] = ratio(entry["hardened"]["ok_rps"], entry["original"]["ok_rps"])
            endpoints[path] = entry
        return {
            "load": {
                "concurrency": p.load_concurrency,
                "seconds": p.load_seconds,
                "max_requests": p.load_requests,
                "runs": p.load_runs,
            },
            "as_deployed": as_deployed,
            "proxy_limits_lifted": LIFTED_LIMITS,
            "endpoints": endpoints,
            "refuse_ms": summarize(r["max_ms"] for r in refuse if r["max_ms"] is not None),
            "refuse_statuses": [r["statuses"] for r in refuse],
            "original_exhaustion": original_refuse,
            "web_cpus": self.web_cpus(name),
            "web_cpu_throttling": throttled,
        }

    def web_cpus(self, name: str) -> str:
        """The web container's CPU limit as deployed (docker_app_web_cpus)."""
        argv = ["docker", "inspect", "--format", "{{.HostConfig.NanoCpus}}", WEB_CONTAINER]
        return f"{int(self.host(name, *argv, label='web-cpus')) / 1e9:g}"

    def web_cpu_stat(self, name: str) -> dict[str, int] | None:
        """CFS counters of the web container (cgroup v1 cpu controller); None elsewhere."""
        argv = ["docker", "inspect", "--format", "{{.Id}}", WEB_CONTAINER]
        container = self.host(name, *argv, label="web-id").strip()
        path = f"/sys/fs/cgroup/cpu/docker/{container}/cpu.stat"
        result = self.run(["docker", "exec", name, "cat", path], "cpu-stat", check=False)
        if result.returncode != 0:
            return None
        return {k: int(v) for k, v in (line.split() for line in result.stdout.splitlines())}

    def copy_dir(self, name: str, source: Path, dest: str) -> None:
        self.host(name, "rm", "-rf", dest, label="rm-ctx")
        self.run(["docker", "cp", str(source), f"{name}:{dest}"], f"copy-{source.name}")

    def builder_base(self, name: str) -> str:
        """Import the builder base root filesystem the converge left in the host's cache."""
        listing = self.host(name, "ls", "/var/cache/dockhard/base", label="base-cache")
        tars = sorted(f for f in listing.split() if re.fullmatch(r"builder-.+\.tar", f))
        if not tars:
            raise RuntimeError("no builder base root filesystem in /var/cache/dockhard/base")
        tar = f"/var/cache/dockhard/base/{tars[0]}"
        argv = ["docker", "import", "--change", 'CMD ["/bin/sh"]', tar, BENCH_BASE]
        self.host(name, *argv, label="import-base")
        return BENCH_BASE

    def build(self, name: str, context: str, tag: str, dockerfile: str | None = None) -> None:
        # Local images from Debian's packages: content trust (CIS 4.5) cannot apply.
        argv = ["env", "DOCKER_CONTENT_TRUST=0", "docker", "build", "--quiet", "--tag", tag]
        argv += ["--file", dockerfile] if dockerfile else []
        self.host(name, *argv, context, label=f"build-{tag}")

    def start_original(self, name: str) -> None:
        python = self.host(
            name, "python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])", label="py"
        ).strip()
        context = self.work_dir / "original"
        (context / "wheelhouse").mkdir(parents=True, exist_ok=True)
        for file in ("app.py", "requirements.txt"):
            (context / file).write_bytes((ORIGINAL_DIR / file).read_bytes())
        download_wheels(self, ORIGINAL_DIR / "requirements.txt", python, context / "wheelhouse")
        base = self.builder_base(name)
        (context / "Dockerfile").write_text(ORIGINAL_DOCKERFILE.format(base=base))
        self.copy_dir(name, context, REMOTE_ORIGINAL_CONTEXT)
        self.build(name, REMOTE_ORIGINAL_CONTEXT, ORIGINAL_IMAGE)
        publish = f"127.0.0.1:{ORIGINAL_PORT}:5000"
        argv = ["docker", "run", "--detach", "--name", ORIGINAL_CONTAINER, "--publish", publish]
        self.host(name, *argv, ORIGINAL_IMAGE, label="run-original")
        probe = f"import urllib.request as u; u.urlopen('{ORIGINAL_URL}/', timeout=2)"
        for _ in range(60):
            answer = self.run(
                ["docker", "exec", name, "python3", "-c", probe], "probe", check=False
            )
            if answer.returncode == 0:
                return
            time.sleep(1)
        raise RuntimeError("the original app did not answer within 60 s")

    def images(self, name: str) -> dict:
        """The hardened web image vs a naive single-stage build on the same base."""
        say("images: naive single-stage build of the app")
        argv = ["docker", "image", "ls", "--filter", "label=org.dockhard.image=webapp"]
        listed = self.host(name, *argv, "--format", "{{.Repository}}:{{.Tag}}", label="webapp")
        hardened = listed.split()[0]
        dockerfile = self.work_dir / "naive.Dockerfile"
        dockerfile.write_text(NAIVE_DOCKERFILE.format(base=BENCH_BASE))
        self.run(["docker", "cp", str(dockerfile), f"{name}:{REMOTE_NAIVE_DOCKERFILE}"], "copy-df")
        self.build(name, "/opt/dockhard/app", NAIVE_IMAGE, REMOTE_NAIVE_DOCKERFILE)
        sizes: dict = {}
        for key, image in (("hardened", hardened), ("naive", NAIVE_IMAGE)):
            argv = ["docker", "image", "inspect", "--format", "{{.Size}}", image]
            sizes[key] = {"image": image, "bytes": int(self.host(name, *argv, label="size"))}
        sizes["naive_to_hardened"] = sizes["naive"]["bytes"] / sizes["hardened"]["bytes"]
        return sizes


def app_summary(samples: Sequence[dict]) -> dict:
    """Throughput and latency of one target and endpoint over its runs."""
    return {
        "ok_rps": summarize(s["ok_rps"] for s in samples),
        "p50_ms": summarize(s["p50_ms"] for s in samples if s["p50_ms"] is not None),
        "p99_ms": summarize(s["p99_ms"] for s in samples if s["p99_ms"] is not None),
        "statuses": [s["statuses"] for s in samples],
        "errors": [s["errors"] for s in samples],
    }


def cpu_stat_delta(before: dict | None, after: dict | None) -> dict | None:
    """How often the CPU quota stopped a container between two cpu.stat readings."""
    if not before or not after:
        return None
    periods = after["nr_periods"] - before["nr_periods"]
    throttled = after["nr_throttled"] - before["nr_throttled"]
    return {
        "periods": periods,
        "throttled_periods": throttled,
        "throttled_fraction": throttled / periods if periods else None,
        "throttled_s": (after["throttled_time"] - before["throttled_time"]) / 1e9,
    }


def wheel_platform(machine: str | None = None) -> str:
    """pip platform tag for `machine` (default: this one, where the bench's hosts run),
    as docker_app picks it from ansible_architecture; other architectures are refused."""
    platforms = yaml.safe_load(APP_ROLE_VARS.read_text())["docker_app_wheel_platforms"]
    machine = machine or platform.machine()
    if machine not in platforms:
        supported = ", ".join(platforms)
        raise SystemExit(f"bench: unsupported architecture {machine}, supported: {supported}")
    return platforms[machine]


def download_wheels(bench: Bench, requirements: Path, python: str, dest: Path) -> None:
    """Wheels for the host's Python, fetched by the controller (PyPI is not reachable
    from containers here); kept in a cache so a rerun needs no network."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    target = wheel_platform()
    cache = WHEEL_CACHE / f"original-{digest}-cp{python.replace('.', '')}-{target}"
    if not any(cache.glob("*.whl")):
        cache.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet"]
        argv += ["--only-binary=:all:", "--python-version", python, "--implementation", "cp"]
        argv += ["--platform", target, "--dest", str(cache), "-r", str(requirements)]
        bench.run(argv, "pip-download")
    for wheel in cache.glob("*.whl"):
        (dest / wheel.name).write_bytes(wheel.read_bytes())


# --- main -------------------------------------------------------------------


def git_commit() -> str:
    """The commit measured, '-dirty' when the tree has uncommitted changes."""
    result = subprocess.run(
        ["git", "describe", "--always", "--dirty", "--abbrev=7"],  # noqa: S607 - git from PATH
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "unknown"


def machine_facts() -> dict:
    """What the figures depend on: cores, memory, kernel, OS, cgroup version."""
    try:
        os_name = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        os_name = ""
    return {
        "cpus": CPUS,
        "memory_total_bytes": meminfo_bytes(Path("/proc/meminfo").read_text(), "MemTotal"),
        "memory_available_before_bytes": available_memory(),
        "kernel": platform.release(),
        "os": os_name,
        "cgroup": "v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "v1",
        "load_average_before": load_average(),
    }


def complete(report: dict) -> bool:
    """A full run that measured everything: only such a run replaces the docs' record."""
    sizes = (report.get("fleet") or {}).get("sizes") or {}
    parts = ("single_host", "app", "images", "fleet")
    return (
        report.get("profile", {}).get("name") == FULL.name
        and "error" not in report
        and all(report.get(part) for part in parts)
        and bool(sizes)
        and not any("skipped" in entry for entry in sizes.values())
    )


def record(report: dict) -> None:
    """Keep a complete full run as the benchmark's record and regenerate the docs from it."""
    RECORD.write_text(json.dumps(report, indent=2) + "\n")
    say(f"wrote {RECORD.relative_to(REPO)}; rendering the docs from it")
    subprocess.run([sys.executable, str(GEN_DOCS)], cwd=REPO, check=True)  # noqa: S603


def record_reruns(report: dict) -> None:
    """Add the figures of a --reruns-only run to the record, with where they come from."""
    kept = json.loads(RECORD.read_text())
    machine = report["machine"]
    kept["reruns"] = {
        **report["reruns"],
        "note": (
            f"Not part of the full run above: `scripts/bench.py --reruns-only` at commit "
            f"{report['commit']}, started {report['started'][:16].replace('T', ' ')} UTC, on a "
            f"{machine['cpus']}-core machine, load average {machine['load_average_before'][0]} "
            f"before and {machine['load_average_after'][0]} after."
        ),
    }
    record(kept)


def preflight() -> None:
    missing = [str(p) for p in (ORIGINAL_DIR / "app.py", LOAD_SCRIPT) if not p.is_file()]
    if missing:
        raise SystemExit(f"missing: {', '.join(missing)}")
    probe = subprocess.run(  # noqa: S603 - fixed argv
        ["docker", "image", "inspect", HOST_IMAGE],  # noqa: S607 - docker from PATH
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        raise SystemExit(f"host image {HOST_IMAGE} missing: build it with ./dockhard images")


def run_all(bench: Bench, report: dict, started: float) -> None:
    profile = bench.profile
    app_host = bench.converge_fresh(1, profile.reruns, profile.checks)
    report["single_host"] = bench.single_summary()
    inv = bench.write_inventory(app_host, [app_host], [app_host])
    report["reruns"] = {"single": bench.rerun_modes(inv, "reruns-single", profile.reruns, 1)}
    report["app"] = bench.app(app_host)
    report["images"] = bench.images(app_host)
    bench.local_hosts([app_host], "absent")
    report["registry"] = bench.registry_mode()
    report["fleet"] = bench.fleet()
    report["reruns"]["fleet"] = bench.fleet_reruns
    bench.more_single_runs(started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and hosts, shorter load")
    parser.add_argument(
        "--registry-only",
        action="store_true",
        help="only the registry mode's first converge (compared with --on-host-s)",
    )
    parser.add_argument(
        "--reruns-only",
        action="store_true",
        help="only the no-drift reruns in full and audit-first mode (one app host, a fleet),"
        " merged into the record",
    )
    parser.add_argument(
        "--on-host-s",
        type=float,
        default=None,
        help="with --registry-only: the on-host build's first converge to compare with",
    )
    parser.add_argument("--json", type=Path, default=REPO / "reports" / "bench.json")
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    preflight()
    log_dir = REPO / "reports" / "bench-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("*.log"):
        old.unlink()
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    report: dict = {
        "profile": asdict(profile),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": git_commit(),
        "machine": machine_facts(),
        "goals": GOALS,
    }
    if args.on_host_s is not None:
        report["on_host_first_converge_s"] = summarize([args.on_host_s])
    say(f"profile {profile.name}; load average {report['machine']['load_average_before']}")
    status = 0
    with tempfile.TemporaryDirectory(prefix="dockhard-bench-") as tmp:
        bench = Bench(profile, log_dir, Path(tmp))
        try:
            if args.registry_only:
                report["registry"] = bench.registry_mode()
            elif args.reruns_only:
                report["reruns"] = bench.reruns_alone()
            else:
                run_all(bench, report, started)
        except (Exception, KeyboardInterrupt) as exc:
            report["error"] = f"{type(exc).__name__}: {exc}"
            say(f"FAILED: {report['error']}")
            status = 1
        finally:
            if bench.single["first"]:
                report["single_host"] = bench.single_summary()
            try:
                bench.remove_all()
            except (Exception, KeyboardInterrupt) as exc:
                report["cleanup_error"] = f"{type(exc).__name__}: {exc}"
                say(f"removing the hosts FAILED: {report['cleanup_error']}")
                status = 1
    report["machine"]["load_average_after"] = load_average()
    report["duration_s"] = round(time.monotonic() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    if status == 0 and complete(report):
        record(report)
    elif status == 0 and args.reruns_only and RECORD.is_file():
        record_reruns(report)
    print()
    print(render(report))
    print()
    machine = report["machine"]
    say(
        f"{report['duration_s']:.0f} s in all; load average before "
        f"{machine['load_average_before']}, after {machine['load_average_after']}; "
        f"wrote {args.json}; logs in {log_dir}"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
