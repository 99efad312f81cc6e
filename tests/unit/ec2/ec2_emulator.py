"""A local EC2 API (moto's server on loopback) and the provisioning playbook run against it.

Fixtures and helpers of tests/unit/ec2 (conftest.py exposes the fixtures).

Nothing here can reach AWS: every AWS_* variable of the caller is dropped, the
credentials are moto's fake ones, the endpoint is 127.0.0.1 and the shared
config/credentials files point at paths that do not exist, so ~/.aws is never read.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
REGION = "us-east-1"
# moto accepts any key; this one is its documented placeholder, never a real credential.
MOTO_FAKE_KEY = "testing"
ENVIRONMENT = "citest"
SSH_CIDRS = ["198.51.100.0/24", "2001:db8::/32"]
HOSTS = [{"name": "dh-ci-1"}, {"name": "dh-ci-app-1", "role": "app-host"}]
RECAP = re.compile(
    r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M
)


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def recap(self, host: str = "localhost") -> dict[str, int]:
        for name, ok, changed, unreachable, failed in RECAP.findall(self.output):
            if name == host:
                keys = ("ok", "changed", "unreachable", "failed")
                return dict(zip(keys, map(int, (ok, changed, unreachable, failed)), strict=True))
        raise AssertionError(f"no PLAY RECAP line for {host}:\n{self.output[-3000:]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def aws_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment for boto3 and Ansible: moto's server on a free loopback port, fake keys."""
    port = free_port()
    home = tmp_path_factory.mktemp("aws-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=MOTO_FAKE_KEY,
        AWS_SECRET_ACCESS_KEY=MOTO_FAKE_KEY,
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_CONFIG_FILE=str(home / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        ANSIBLE_DEPRECATION_WARNINGS="false",
        ANSIBLE_NOCOLOR="1",
    )
    server = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, server)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=10)


def wait_for_port(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"moto_server exited with {server.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("moto_server did not listen within 30 s")


@pytest.fixture(scope="session")
def ec2(aws_env: dict[str, str]):
    return boto3.session.Session(
        aws_access_key_id=aws_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws_env["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
    ).client("ec2", endpoint_url=aws_env["AWS_ENDPOINT_URL"])


@pytest.fixture(scope="session")
def network(ec2) -> dict[str, str]:
    """A VPC and subnet of the test's own: the emulator's default subnet maps public IPs."""
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    image = ec2.describe_images(Filters=[{"Name": "root-device-type", "Values": ["ebs"]}])["Images"]
    return {"vpc": vpc, "subnet": subnet, "image": image[0]["ImageId"]}


def fleet_vars(network: dict[str, str], **overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "ec2_provision_region": REGION,
        "ec2_provision_subnet_id": network["subnet"],
        "ec2_provision_image_id": network["image"],
        "ec2_provision_environment": ENVIRONMENT,
        "ec2_provision_ssh_cidrs": SSH_CIDRS,
        "ec2_provision_hosts": HOSTS,
    }
    values.update(overrides)
    return values


def run(env: dict[str, str], *argv: str) -> Run:
    proc = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def provision(env: dict[str, str], tmp: Path, values: dict[str, object]) -> Run:
    extra = tmp / "fleet.yml"
    extra.write_text(yaml.safe_dump(values))
    return run(env, "ansible-playbook", "playbooks/provision_ec2.yml", "-e", f"@{extra}")


@pytest.fixture(scope="session")
def provisioned(aws_env, network, tmp_path_factory) -> tuple[Run, Run]:
    """The provisioning playbook, run twice with the same variables."""
    tmp = tmp_path_factory.mktemp("provision")
    first = provision(aws_env, tmp, fleet_vars(network))
    second = provision(aws_env, tmp, fleet_vars(network))
    return first, second


@pytest.fixture(scope="session")
def instances(ec2, provisioned) -> list[dict]:
    reservations = ec2.describe_instances(
        Filters=[{"Name": "tag:Environment", "Values": [ENVIRONMENT]}]
    )["Reservations"]
    found = [i for r in reservations for i in r["Instances"]]
    # Every test of the instances would pass on an empty list: refuse one.
    assert found, "the provisioning playbook created no instance"
    return found


def tags(resource: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}
