"""The bootstrap's Docker engine step as the users the README names (issue 22).

Runs for real on this machine as root (CI does): each test creates an unprivileged
user with sudo, copies the scripts into that user's home (the checkout itself may
sit in a directory other users cannot enter), and runs the engine step as that
user, with a user's PATH (no sbin folders). The machine's own engine keeps running.
Every sudo call of the user is written to a log file, so "the user never used sudo"
also proves that nothing was installed or started as root for it.

"No engine runs" is made without touching the engine: the run gets its own PID,
mount and network namespaces, with empty /run and /var/lib/docker, and a user
whose sudo allows only /usr/bin/true, so even a wrong start could not reach the
machine's engine.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ("dockhard", "scripts/bootstrap.sh", "scripts/lib.sh")
USER_PATH = "/usr/local/bin:/usr/bin:/bin"  # Debian's ENV_PATH for users: no sbin
SOCKET = Path("/var/run/docker.sock")
PROMISED_SECONDS = 5.0  # the README's promise for a refused user
RUN_TIMEOUT = 90  # a wrong bootstrap waits 60 s for an engine; stop it after that
FULL_SUDO = "ALL=(ALL:ALL) NOPASSWD: ALL"
TRUE_ONLY_SUDO = "ALL=(root) NOPASSWD: /usr/bin/true"
# A run as if no engine existed: its own PID, mount and network namespaces.
NO_ENGINE = (
    "unshare",
    "--pid",
    "--fork",
    "--mount-proc",
    "--net",
    "sh",
    "-c",
    "mount -t tmpfs tmpfs /run && "
    "if [ -d /var/lib/docker ]; then mount -t tmpfs tmpfs /var/lib/docker; fi && "
    'exec "$@"',
    "sh",
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates users: run as root (CI does)")


@dataclass
class SudoUser:
    name: str
    home: Path
    sudo_log: Path

    @property
    def checkout(self) -> Path:
        return self.home / "dockhard"

    def sudo_calls(self) -> str:
        return self.sudo_log.read_text(encoding="utf-8") if self.sudo_log.exists() else ""


@dataclass
class Run:
    returncode: int
    output: str
    seconds: float


def _root(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=300)


def _machine_dockerd_pids() -> set[int]:
    """dockerd engines in this PID namespace.

    Left out: the nested engines of host containers (their own PID namespace) and
    the short checks of roles/docker_daemon/files/dockerd-validate (--validate, or a
    dockerd on a private --pidfile), which other test runs may start at any time.
    """
    own = os.readlink("/proc/self/ns/pid")
    pids = set()
    for comm in Path("/proc").glob("[0-9]*/comm"):
        proc = comm.parent
        try:
            if comm.read_text().strip() != "dockerd" or os.readlink(proc / "ns/pid") != own:
                continue
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # the process ended meanwhile
        if b"--validate" not in argv and b"--pidfile" not in argv:
            pids.add(int(proc.name))
    return pids


@pytest.fixture(scope="module", autouse=True)
def engine_and_sudo() -> None:
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        pytest.skip("no Docker engine answers 'docker info'; ./dockhard bootstrap starts one")
    if shutil.which("sudo") is None:
        if shutil.which("apt-get") is None:
            pytest.skip("sudo is missing and apt-get is not here to install it")
        _root("apt-get", "update", "-qq")
        _root("apt-get", "install", "-y", "-qq", "--no-install-recommends", "sudo")


@pytest.fixture
def make_user(tmp_path: Path) -> Iterator:
    created: list[str] = []

    def make(sudo_rule: str) -> SudoUser:
        name = f"dhtest{secrets.token_hex(3)}"
        _root("useradd", "--create-home", "--shell", "/bin/bash", name)
        created.append(name)
        user = SudoUser(name, Path(f"/home/{name}"), tmp_path / f"{name}-sudo.log")
        _write_sudoers(user, sudo_rule)
        _copy_scripts(user)
        return user

    yield make
    for name in created:
        Path(f"/etc/sudoers.d/{name}").unlink(missing_ok=True)
        _root("userdel", "--remove", name)


def _write_sudoers(user: SudoUser, rule: str) -> None:
    path = Path(f"/etc/sudoers.d/{user.name}")
    path.write_text(
        f"Defaults:{user.name} logfile={user.sudo_log}, loglinelen=0\n{user.name} {rule}\n",
        encoding="utf-8",
    )
    path.chmod(0o440)
    _root("visudo", "--check", "--file", str(path))
    # The log sees sudo, or an empty log would prove nothing.
    _root("runuser", "-u", user.name, "--", "sudo", "-n", "/usr/bin/true")
    assert "COMMAND=/usr/bin/true" in user.sudo_calls()
    user.sudo_log.write_text("", encoding="utf-8")


def _copy_scripts(user: SudoUser) -> None:
    for rel in SCRIPTS:
        target = user.checkout / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    _root("chown", "-R", f"{user.name}:{user.name}", str(user.checkout))


def _run_as(user: SudoUser, *args: str, no_engine: bool = False) -> Run:
    command = [
        "runuser",
        "-u",
        user.name,
        "--",
        "env",
        "-i",
        f"PATH={USER_PATH}",
        f"HOME={user.home}",
        "LANG=C.UTF-8",
        *args,
    ]
    if no_engine:
        command = [*NO_ENGINE, *command]
    start = time.monotonic()
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False, cwd=user.home
    )
    return Run(done.returncode, done.stdout + done.stderr, time.monotonic() - start)


def _assert_options(run: Run, user: SudoUser) -> None:
    assert "run as root" in run.output
    assert "sudo ./dockhard demo" in run.output
    assert f"usermod -aG docker {user.name}" in run.output
    assert "root-equivalent" in run.output
    assert "1.1.2" in run.output


def _socket_refuses_others() -> bool:
    return SOCKET.is_socket() and not SOCKET.stat().st_mode & (stat.S_IROTH | stat.S_IWOTH)


def test_sudo_user_outside_docker_group_is_stopped_within_seconds(make_user) -> None:
    if not _socket_refuses_others():
        pytest.skip(f"{SOCKET} is missing or open to every user, so no user is refused")
    user = make_user(FULL_SUDO)
    before = _machine_dockerd_pids()

    run = _run_as(user, str(user.checkout / "dockhard"), "bootstrap")

    assert run.returncode != 0, run.output
    assert f"a Docker engine runs on this machine, but it refuses {user.name}" in run.output
    assert "'docker info' says: permission denied" in run.output  # docker's own words
    _assert_options(run, user)
    assert run.seconds < PROMISED_SECONDS
    assert _machine_dockerd_pids() == before
    assert user.sudo_calls() == ""  # nothing installed, nothing started as root
    assert not (user.checkout / ".venv").exists()  # stopped before the venv step


def test_docker_group_member_gets_through(make_user) -> None:
    if not SOCKET.is_socket():
        pytest.skip(f"{SOCKET} is missing: this engine is reached another way")
    docker_gid = int(_root("getent", "group", "docker").stdout.split(":")[2])
    socket = SOCKET.stat()
    if socket.st_gid != docker_gid or not socket.st_mode & stat.S_IWGRP:
        pytest.skip(f"{SOCKET} does not give the docker group access (not root:docker 0660)")
    user = make_user(FULL_SUDO)
    _root("usermod", "--append", "--groups", "docker", user.name)
    before = _machine_dockerd_pids()

    run = _run_as(user, "bash", str(user.checkout / "scripts/bootstrap.sh"), "--engine")

    assert run.returncode == 0, run.output
    assert run.seconds < PROMISED_SECONDS
    assert _machine_dockerd_pids() == before
    assert user.sudo_calls() == ""


def test_no_engine_user_outside_docker_group_is_stopped_before_sudo(make_user) -> None:
    user = make_user(TRUE_ONLY_SUDO)
    before = _machine_dockerd_pids()

    run = _run_as(
        user, "bash", str(user.checkout / "scripts/bootstrap.sh"), "--engine", no_engine=True
    )

    assert run.returncode != 0, run.output
    assert "no Docker engine runs" in run.output
    assert "Is the docker daemon running?" in run.output  # docker's own words
    _assert_options(run, user)
    assert run.seconds < PROMISED_SECONDS
    assert _machine_dockerd_pids() == before
    assert user.sudo_calls() == ""


def test_no_engine_docker_group_member_starts_the_system_dockerd_through_sudo(make_user) -> None:
    user = make_user(TRUE_ONLY_SUDO)  # the start is refused: no engine is really started
    _root("usermod", "--append", "--groups", "docker", user.name)

    run = _run_as(
        user, "bash", str(user.checkout / "scripts/bootstrap.sh"), "--engine", no_engine=True
    )

    assert run.returncode != 0, run.output
    calls = user.sudo_calls()
    assert "command not allowed" in calls
    assert "apt-get" not in calls  # dockerd is installed, only outside the user's PATH
    # The system binary by its full path, found although the user's PATH lacks sbin.
    started = re.search(r"nohup \\?'?(/[\w/.-]+/dockerd)\\?'? --host", calls)
    assert started, calls
    assert Path(started[1]).is_file()


def test_root_gets_through_and_starts_nothing() -> None:
    before = _machine_dockerd_pids()
    start = time.monotonic()
    done = subprocess.run(
        ["bash", str(ROOT / "scripts/bootstrap.sh"), "--engine"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - start < PROMISED_SECONDS
    assert _machine_dockerd_pids() == before
