"""Host settings beyond the daemon: content trust (CIS 4.5) and the EC2 metadata block (X.1)."""

from __future__ import annotations

import pytest
from conftest import restart_docker, run_ok

IMDS = "169.254.169.254"


def test_cis_4_5_content_trust_env(host):
    assert run_ok(host, "bash", "-lc", "echo $DOCKER_CONTENT_TRUST").strip() == "1"


@pytest.fixture
def fake_imds(host):
    """A stand-in metadata service on 169.254.169.254, off-host as on EC2.

    It lives in its own network namespace behind a veth pair, so container
    traffic to it is forwarded through DOCKER-USER exactly like traffic to the
    real service, and it answers the host itself.
    """
    setup = f"""
set -e
ip netns add dockhard-imds
ip link add dh-imds0 type veth peer name dh-imds1
ip link set dh-imds1 netns dockhard-imds
ip addr add 169.254.169.1/24 dev dh-imds0
ip link set dh-imds0 up
ip netns exec dockhard-imds ip addr add {IMDS}/24 dev dh-imds1
ip netns exec dockhard-imds ip link set dh-imds1 up
ip netns exec dockhard-imds ip link set lo up
ip netns exec dockhard-imds ip route add default via 169.254.169.1
mkdir -p /tmp/dockhard-imds && echo instance-id > /tmp/dockhard-imds/latest
cd /tmp/dockhard-imds
nohup ip netns exec dockhard-imds python3 -m http.server 80 --bind {IMDS} >/dev/null 2>&1 &
for i in $(seq 1 50); do
  python3 -c "import urllib.request as u; u.urlopen('http://{IMDS}/latest', timeout=1)" \\
    2>/dev/null && exit 0
  sleep 0.2
done
exit 1
"""
    try:
        run_ok(host, "sh", "-c", setup)
        yield IMDS
    finally:
        host.run("ip netns pids dockhard-imds | xargs -r kill")
        host.run("ip link del dh-imds0; ip netns del dockhard-imds; rm -rf /tmp/dockhard-imds")


def test_x_1_imds_blocked(host, fake_imds, scratch_image):
    # The host itself reaches the service: the stand-in is real.
    run_ok(
        host,
        "python3",
        "-c",
        f"import urllib.request; urllib.request.urlopen('http://{fake_imds}/latest', timeout=3)",
    )
    # A container does not, whatever it tries.
    fetch = host.run(f"docker run --rm {scratch_image} wget -T 3 -q -O - http://{fake_imds}/latest")
    assert fetch.rc != 0
    assert "instance-id" not in fetch.stdout


def test_x_1_imds_block_survives_daemon_restart(host):
    restart_docker(host)
    rules = run_ok(host, "iptables", "-w", "-S", "DOCKER-USER")
    assert f"-A DOCKER-USER -d {IMDS}/32 -j REJECT" in rules
