"""CIS 4.4 by dockhard's criterion: pending Debian security updates, SBOMs (make scan)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest
from app_stack import PROXY, app_containers
from conftest import ROOT, audit_report, host_name, host_var, run_ok
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

pytestmark = pytest.mark.usefixtures("app_deployed")

STAND_IN_LABEL = "org.dockhard.test=cis-4-4-stand-in"
# Runs on the host: the packages of the security suite's index (what apt would read).
_SECURITY_PACKAGES = """
import lzma, sys, urllib.request
url = f"{sys.argv[1]}/dists/{sys.argv[2]}-security/main/binary-amd64/Packages.xz"
text = lzma.decompress(urllib.request.urlopen(url, timeout=30).read()).decode()
names = (line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Package: "))
print("\\n".join(names))
"""


def image_patches(host, *filters: str) -> dict:
    """plugins/modules/image_patches.py on the host, in check mode as the audit runs it."""
    args = json.dumps({"image_filters": list(filters), "packages": True})
    return host.ansible("dockhard.docker_hardening.image_patches", args, check=True)


def installed(host, image: str) -> dict[str, str]:
    """Package -> version of what dpkg says is installed in the image."""
    listing = run_ok(
        host,
        *("docker", "run", "--rm", "--network", "none", "--user", "0"),
        *("--entrypoint", "dpkg-query", image, "-W"),
        "-f=${db:Status-Status} ${Package} ${Version}\n",
    )
    rows = [line.split() for line in listing.splitlines()]
    return {name: version for status, name, version in rows if status == "installed"}


@pytest.fixture(scope="module")
def web_image(host) -> str:
    """The web container's image by name: a build FROM an image ID would ask a registry."""
    return app_containers(host)["web"]["Config"]["Image"]


@pytest.fixture
def stand_in(host, web_image):
    """The web image with one package the security suite updates claimed older in dpkg's status.

    Returns (tag, package, claimed version); the image is removed afterwards.
    """
    mirror = host_var(
        host, "docker_app_debian_security_mirror", "http://deb.debian.org/debian-security"
    )
    suite = host_var(host, "docker_app_debian_suite", "trixie")
    in_suite = set(run_ok(host, "python3", "-c", _SECURITY_PACKAGES, mirror, suite).split())
    packages = installed(host, web_image)
    package = sorted(set(packages) & in_suite)[0]
    older = f"{packages[package]}~dockhard.stand.in"
    tag = "dockhard-test/cis-4-4-stand-in:latest"
    dockerfile = f"""FROM {web_image}
USER 0:0
RUN python3 - <<'EOF'
from pathlib import Path
status = Path("/var/lib/dpkg/status")
blocks = status.read_text().split("\\n\\n")
for i, block in enumerate(blocks):
    if block.startswith("Package: {package}\\n"):
        blocks[i] = block.replace("\\nVersion: {packages[package]}\\n", "\\nVersion: {older}\\n")
status.write_text("\\n\\n".join(blocks))
EOF
USER 10001:10001
LABEL {STAND_IN_LABEL}
"""
    build = host.run(
        f"DOCKER_CONTENT_TRUST=0 docker build --quiet --tag {tag} - <<'END'\n{dockerfile}END"
    )
    assert build.rc == 0, build.stderr
    assert installed(host, tag)[package] == older
    yield tag, package, older
    host.run(f"docker image rm --force {tag}")


def test_cis_4_4_no_pending_security_updates(host):
    report = audit_report(host)
    control = next(c for c in report["controls"] if c["id"] == "4.4")
    assert control["status"] == "PASS", control["evidence"]
    assert "dockhard's criterion" in control["evidence"][0]
    assert any("none pending" in line for line in control["evidence"][1:]), control["evidence"]


def test_cis_4_4_stand_in_lacking_a_security_update_fails_naming_it(host, stand_in):
    _, package, older = stand_in
    result = image_patches(host, f"label={STAND_IN_LABEL}")
    assert result["findings"]["4.4"]["status"] == "FAIL", result["findings"]
    (image,) = result["images"]
    (pending,) = image["pending"]
    assert (pending["package"], pending["installed"]) == (package, older)
    # The compliance report (playbooks/audit.yml reads every image) says the same.
    control = next(c for c in audit_report(host)["controls"] if c["id"] == "4.4")
    assert control["status"] == "FAIL"
    assert f"{package} {older} -> {pending['fixed']}" in " ".join(control["evidence"])


def make_scan(host, *options: str) -> subprocess.CompletedProcess:
    """scripts/image_scan.py (make scan) from the controller, as a user runs it."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory:
        pytest.skip("needs the Molecule inventory (run through molecule verify)")
    argv = [sys.executable, "scripts/image_scan.py", "--host", host_name(host)]
    return subprocess.run(
        [*argv, "--inventory", inventory, *options],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def test_make_scan_writes_a_valid_sbom_listing_every_dpkg_package(host, tmp_path):
    name = host_name(host)
    scan = make_scan(host, "--out", str(tmp_path))
    assert scan.returncode == 0, scan.stdout + scan.stderr
    assert "pending" in scan.stdout.splitlines()[0]
    patches = json.loads((tmp_path / f"{name}.patches.json").read_text())
    assert patches["status"] == "PASS"
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    for service, container in app_containers(host).items():
        image_id = container["Image"]
        sboms = [
            json.loads(p.read_text())
            for p in (tmp_path / f"{name}.sbom").glob("*.cdx.json")
            if json.loads(p.read_text())["metadata"]["component"]["version"] == image_id
        ]
        assert len(sboms) == 1, f"{service}: no SBOM for {image_id}"
        (sbom,) = sboms
        assert validator.validate_str(json.dumps(sbom)) is None
        listed = {(c["name"], c["version"]) for c in sbom["components"]}
        missing = set(installed(host, image_id).items()) - listed
        assert not missing, f"{service}: dpkg packages missing from the SBOM: {sorted(missing)}"


# Runs on the host: GET url every interval seconds until the stop file exists (at most
# limit seconds), then prints the count of answers per status and of connection errors.
_LOAD = """
import collections, json, os, sys, time, urllib.error, urllib.request
url, stop, interval, limit = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
seen, end = collections.Counter(), time.monotonic() + limit
while not os.path.exists(stop) and time.monotonic() < end:
    try:
        seen[str(opener.open(url, timeout=10).status)] += 1
    except urllib.error.HTTPError as e:
        seen[str(e.code)] += 1
    except OSError as e:
        seen[type(e).__name__] += 1
    time.sleep(interval)
print(json.dumps(seen))
"""
LOAD_URL = f"{PROXY}/?name=bob"


@pytest.mark.skipif(
    os.environ.get("DOCKHARD_TEST_PATCH_REBUILD") != "1",
    reason="converges again (minutes): set DOCKHARD_TEST_PATCH_REBUILD=1",
)
def test_cis_4_4_converge_rebuilds_an_image_lacking_a_security_update(host, stand_in):
    """The web image's tag is moved to the stand-in; a converge rebuilds and redeploys."""
    from conftest import recap, run_playbook

    tag = stand_in[0]
    web_tag = app_containers(host)["web"]["Config"]["Image"]
    run_ok(host, "docker", "tag", tag, web_tag)
    before = make_scan(host, "--phase", "before")  # the summary report's "before"
    assert before.returncode == 1, before.stdout + before.stderr
    stop, out = "/tmp/dockhard-load.stop", "/tmp/dockhard-load.json"
    host.run(f"rm -f {stop} {out}")
    load = shlex.join(["python3", "-c", _LOAD, LOAD_URL, stop, "0.1", "900"])
    run_ok(host, "sh", "-c", f"{load} > {out} 2>&1 &")
    play = run_playbook(host, "site.yml")
    run_ok(host, "touch", stop)
    assert play.returncode == 0, play.stdout[-3000:]
    assert recap(play)["changed"] > 0
    run_ok(host, "timeout", "30", "sh", "-c", f"until [ -s {out} ]; do sleep 0.2; done")
    answers = json.loads(run_ok(host, "cat", out))
    assert app_containers(host)["web"]["Config"]["Image"] != web_tag
    after = make_scan(host)
    assert after.returncode == 0, after.stdout + after.stderr
    failed = {k: v for k, v in answers.items() if k != "200"}
    assert answers.get("200", 0) > 0
    assert failed == {}, f"requests through the proxy during the switch: {answers}"
