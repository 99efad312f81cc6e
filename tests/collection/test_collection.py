"""The collection as users get it: built, installed into an empty collections path, run by FQCN.

The tarball from `ansible-galaxy collection build` is installed into a temporary collections
path and converges a real host container (the host roles, then the compliance audit) from a
directory outside this checkout, with no ansible.cfg and ANSIBLE_COLLECTIONS_PATH naming only
the install: nothing can be found through the checkout. community.docker and the other
dependencies come from the venv's `ansible` package (site-packages, which ansible always scans).
The app role is left out to keep this short; its sources are shown to resolve from the install.
`ansible-test sanity` runs on the installed copy, the path shape ansible-test needs.

DOCKHARD_COLLECTION_HOST names the host container (default dockhard-collection-bookworm).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
FQCN = f"{GALAXY['namespace']}.{GALAXY['name']}"
HOST = os.environ.get("DOCKHARD_COLLECTION_HOST", "dockhard-collection-bookworm")
IMAGE = os.environ.get("DOCKHARD_COLLECTION_IMAGE", "dockhard/host:bookworm")
HOST_ROLES = ["docker_engine", "docker_files", "docker_daemon", "docker_auditd", "docker_host"]
AUDIT_RULES_FILE = "/etc/audit/rules.d/50-dockhard-docker.rules"
# ansible-test bootstraps pip in its sanity venvs with a get-pip.py from a host this
# machine cannot reach; this stand-in installs the same pip from PyPI with Python's ensurepip.
GET_PIP = '''"""Stand-in for get-pip.py: ensurepip's pip installs the requested pip from PyPI."""
import ensurepip
import subprocess
import sys

ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
'''

PLAYBOOK = f"""---
- name: Converge the host roles from the installed collection
  hosts: docker_hosts
  become: true
  roles:
{"".join(f"    - role: {FQCN}.{role}{chr(10)}" for role in HOST_ROLES)}
- name: Audit with the installed collection
  hosts: docker_hosts
  become: true
  gather_facts: false
  tasks:
    - name: Skip a phase whose report is kept
      ansible.builtin.import_role:
        name: {FQCN}.docker_compliance
        tasks_from: start.yml

    - name: Read the controls of each role
      ansible.builtin.include_role:
        name: "{FQCN}.{{{{ dockhard_audit_role }}}}"
        tasks_from: audit.yml
        public: true
      loop: "{{{{ docker_compliance_roles }}}}"
      loop_control:
        loop_var: dockhard_audit_role

    - name: Report
      ansible.builtin.import_role:
        name: {FQCN}.docker_compliance

    - name: Show where the app role takes its sources from
      ansible.builtin.debug:
        msg: "docker_app_src={{{{ docker_app_src }}}}"
"""


def run(argv: list[str], cwd: Path, env: dict[str, str], timeout: int = 1800):
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def clean_env(collections: Path) -> dict[str, str]:
    """The environment of a user with only the installed collection (no ansible.cfg of ours)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    env.update(
        PATH=f"{BIN}:{env.get('PATH', '')}",
        ANSIBLE_COLLECTIONS_PATH=str(collections),
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_HOST_KEY_CHECKING="false",
    )
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(collections path with only this collection, its install dir), from a fresh tarball."""
    work = tmp_path_factory.mktemp("collection")
    collections = work / "collections"
    env = clean_env(collections)
    build = run(
        [str(BIN / "ansible-galaxy"), "collection", "build", str(ROOT), "--output-path", str(work)],
        work,
        env,
    )
    assert build.returncode == 0, build.stderr
    (tarball,) = work.glob(f"{GALAXY['namespace']}-{GALAXY['name']}-*.tar.gz")
    assert tarball.name.endswith(f"-{GALAXY['version']}.tar.gz")
    install = run(
        [
            str(BIN / "ansible-galaxy"),
            "collection",
            "install",
            "--no-deps",
            "--offline",
            "-p",
            str(collections),
            str(tarball),
        ],
        work,
        env,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return collections, collections / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]


def test_tarball_holds_what_runs_and_nothing_of_development(installed):
    _, root = installed
    for path in [
        "roles/docker_daemon/tasks/main.yml",
        "plugins/modules/cis_audit.py",
        "plugins/lookup/collection_path.py",
        "plugins/filter/compliance_report.yml",
        "catalog/controls.yml",
        "files/app/compose.yaml",
        "meta/runtime.yml",
        "meta/execution-environment.yml",
        "LICENSE",
        "CHANGELOG.md",
    ]:
        assert (root / path).is_file(), path
    left_out = [
        "collections",
        "tests/unit",
        "tests/integration",
        "molecule",
        "images",
        ".venv",
        "reports",
        "build",
    ]
    left_out += ["playbooks", "files/original", "docs/src", "requirements.txt", "ansible.cfg"]
    for path in left_out:
        assert not (root / path).exists(), path


def test_ansible_test_sanity_passes(installed):
    _, root = installed
    # Its venvs are kept in the project's cache, next to the get-pip stand-in.
    home = ROOT / ".cache" / "ansible-test-home"
    pip_version = re.search(
        r"pip='([\d.]+)'",
        (
            BIN.parent
            / "lib"
            / f"python{sys.version_info.major}.{sys.version_info.minor}"
            / "site-packages/ansible_test/_internal/python_requirements.py"
        ).read_text(),
    )
    assert pip_version, "ansible-test's pip version not found"
    get_pip = home / ".ansible/test/cache" / f"get_pip_{pip_version[1].replace('.', '_')}.py"
    get_pip.parent.mkdir(parents=True, exist_ok=True)
    get_pip.write_text(GET_PIP)
    env = {**clean_env(root.parents[2]), "HOME": str(home)}
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    argv = [str(BIN / "ansible-test"), "sanity", "--python", python, "--color", "no"]
    sanity = run(argv, root, env)
    assert sanity.returncode == 0, sanity.stdout[-6000:] + sanity.stderr[-3000:]
    assert "All targets skipped" not in sanity.stdout + sanity.stderr


@pytest.fixture(scope="module")
def host_container() -> Iterator[str]:
    """A fresh local EC2-like host container, removed afterwards."""
    hosts = json.dumps({"dockhard_local_hosts": [{"name": HOST, "image": IMAGE}]})

    def local_host(state: str) -> subprocess.CompletedProcess:
        argv = [
            str(BIN / "ansible-playbook"),
            str(ROOT / "playbooks/local_host.yml"),
            "-e",
            hosts,
            "-e",
            f"dockhard_local_host_state={state}",
        ]
        return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)

    local_host("absent")
    made = local_host("started")
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr
    yield HOST
    local_host("absent")


@pytest.fixture(scope="module")
def converged(installed, host_container, tmp_path_factory) -> dict:
    """The converge and audit of the host by FQCN, run from a project outside the checkout."""
    collections, _ = installed
    project = tmp_path_factory.mktemp("project")
    (project / "converge.yml").write_text(PLAYBOOK)
    inventory = {
        "docker_hosts": {
            "hosts": {
                host_container: {
                    "ansible_connection": "community.docker.docker",
                    "ansible_python_interpreter": "/usr/bin/python3",
                }
            }
        }
    }
    (project / "hosts.yml").write_text(yaml.safe_dump(inventory))
    argv = [str(BIN / "ansible-playbook"), "-i", "hosts.yml", "converge.yml"]
    play = run(argv, project, clean_env(collections))
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports/collection-converge.log").write_text(play.stdout + play.stderr)
    assert play.returncode == 0, play.stdout[-4000:] + play.stderr[-2000:]
    return {"project": project, "stdout": play.stdout, "stderr": play.stderr}


def docker_exec(host: str, *argv: str) -> str:
    argv = ["docker", "exec", host, *argv]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def test_the_converge_used_the_installed_collection_only(installed, converged):
    _, root = installed
    assert str(ROOT) not in converged["stdout"]
    src = re.search(r"docker_app_src=(\S+?)\"?$", converged["stdout"], re.MULTILINE)
    assert src, "docker_app_src not printed"
    assert Path(src[1]) == (root / "files/app").resolve()
    assert (Path(src[1]) / "compose.yaml").is_file()


def test_the_converge_uses_nothing_ansible_core_deprecates(converged):
    """E.g. a fact read as a top-level variable: ansible-core 2.24 stops injecting them."""
    output = converged["stdout"] + converged["stderr"]
    first = output.find("[DEPRECATION WARNING]")
    assert first < 0, output[first : first + 1500]


def test_daemon_json_has_the_hardened_keys(converged, host_container):
    daemon = json.loads(docker_exec(host_container, "cat", "/etc/docker/daemon.json"))
    assert daemon["icc"] is False
    assert daemon["no-new-privileges"] is True
    assert daemon["live-restore"] is True
    assert docker_exec(host_container, "systemctl", "is-active", "docker").strip() == "active"


def test_kernel_loads_the_audit_rules(converged, host_container):
    """Loaded by auditctl in the host's mount namespace but this machine's PID namespace."""
    pid = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Pid}}", host_container],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    enter = ["nsenter", "--target", pid, "--mount", "--"]
    try:
        load = subprocess.run(
            [*enter, "auditctl", "-R", AUDIT_RULES_FILE],
            capture_output=True,
            text=True,
            check=False,
        )
        assert load.returncode == 0, load.stderr
        listed = subprocess.run(
            [*enter, "auditctl", "-l"], capture_output=True, text=True, check=True
        ).stdout
        assert "-w /usr/bin/dockerd -p rwxa -k docker" in listed
        assert "-w /etc/docker/daemon.json -p rwxa -k docker" in listed
    finally:
        subprocess.run([*enter, "auditctl", "-D", "-k", "docker"], capture_output=True, check=False)


def test_report_in_the_default_dir_has_no_fail_of_converged_roles(converged, host_container):
    report_dir = converged["project"] / "reports/compliance"
    report = json.loads((report_dir / f"{host_container}.json").read_text())
    written = {p.name for p in report_dir.iterdir()}
    assert written >= {f"{host_container}{suffix}" for suffix in (".json", ".md", ".xml")}
    failing = {
        c["id"]: c["evidence"]
        for c in report["controls"]
        if c["status"] == "FAIL" and c["role"] in HOST_ROLES
    }
    assert failing == {}
    assert sum(c["status"] == "PASS" for c in report["controls"] if c["role"] in HOST_ROLES) > 40
