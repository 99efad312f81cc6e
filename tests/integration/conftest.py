"""Shared fixtures for the testinfra suites run by Molecule against converged hosts."""

from __future__ import annotations

import json
import shlex

import pytest


def run_ok(host, *argv: str) -> str:
    """Run argv on the host (as root), fail the test with its stderr if it fails."""
    cmd = host.run(" ".join(shlex.quote(a) for a in argv))
    assert cmd.rc == 0, f"{argv!r} failed ({cmd.rc}): {cmd.stderr.strip()}"
    return cmd.stdout


@pytest.fixture(scope="module")
def docker_info(host) -> dict:
    """`docker info` of the host's engine, as the engine reports it."""
    return json.loads(run_ok(host, "docker", "info", "--format", "{{json .}}"))


@pytest.fixture(scope="module")
def scratch_image(host):
    """A throwaway image built on the host from Debian's busybox-static package.

    No registry is reachable, so the image is made from a Debian package that is
    downloaded (not installed) and imported; it is removed afterwards so that no
    image without a HEALTHCHECK stays on the host (CIS 4.6).
    """
    tag = "dockhard-test/busybox:latest"
    script = f"""
set -e
work=$(mktemp -d)
cd "$work"
apt-get download busybox-static >/dev/null 2>&1 ||
  (apt-get update -qq && apt-get download busybox-static >/dev/null)
dpkg-deb -x busybox-static_*.deb root
mkdir -p root/bin && ln -sf /usr/bin/busybox root/bin/sh 2>/dev/null || true
[ -x root/bin/busybox ] || ln -sf ../usr/bin/busybox root/bin/busybox
tar -C root -c . | docker import - {tag} >/dev/null
rm -rf "$work"
"""
    run_ok(host, "sh", "-c", script)
    yield tag
    host.run(f"docker rmi -f {tag}")
