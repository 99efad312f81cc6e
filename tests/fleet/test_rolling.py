"""A bad host stops the rolling converge at its batch; later batches are never touched.

Batches (serial [1, "50%"] over four hosts): [fleet-1], [fleet-2, fleet-3], [fleet-4];
dockhard-fleet-3 names a data device it does not have.
"""

from __future__ import annotations

import json

import pytest
from fleet_run import BROKEN, CONVERGED, STOPPED, UNTOUCHED

CONTENT_TRUST = "/etc/profile.d/dockhard-content-trust.sh"  # docker_host: the play's last role


def test_the_run_fails_and_stops(rolling):
    assert rolling.rc == 2, rolling.stdout[-3000:]
    assert sorted(rolling.recap) == sorted(CONVERGED + STOPPED + BROKEN + UNTOUCHED)
    assert "NO MORE HOSTS LEFT" in rolling.stdout
    # The site's later plays (the app, the final audit) never start once the converge is aborted.
    assert "PLAY [Deploy the hardened app]" not in rolling.stdout


def test_batches_ran_in_order_and_the_last_one_never_started(rolling):
    assert rolling.batches() == [set(CONVERGED), set(STOPPED + BROKEN)]


def test_the_broken_host_is_the_one_that_failed(rolling):
    assert [h for h, c in rolling.recap.items() if c["failed"]] == BROKEN
    assert "/dev/xvdz is not a block device" in rolling.stdout + rolling.stderr


@pytest.mark.parametrize("name", CONVERGED)
def test_first_batch_is_fully_converged(fleet, rolling, name):
    host = fleet[name]
    assert rolling.recap[name]["changed"] > 0
    assert host.service("docker").is_running
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon["icc"] is False
    assert daemon["live-restore"] is True
    assert host.file(CONTENT_TRUST).exists


@pytest.mark.parametrize("name", BROKEN + STOPPED)
def test_the_broken_batch_stops_where_it_failed(fleet, name):
    host = fleet[name]
    # The batch stopped in its first role: no engine, no configuration.
    assert not host.package("docker.io").is_installed
    assert not host.file("/etc/docker/daemon.json").exists
    assert not host.file(CONTENT_TRUST).exists


@pytest.mark.parametrize("name", UNTOUCHED)
def test_later_batches_are_untouched(fleet, rolling, name):
    host = fleet[name]
    # Only the read-only checks before the converge saw it (its "before" report is
    # written on the controller); the converge play never ran on it.
    assert rolling.recap[name]["failed"] == 0
    assert not host.package("docker.io").is_installed
    assert not host.file("/etc/docker/daemon.json").exists
    assert not host.file(CONTENT_TRUST).exists
