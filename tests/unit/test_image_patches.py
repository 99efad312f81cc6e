"""Patch currency (plugins/modules/image_patches.py) and the SBOM of make scan."""

from __future__ import annotations

import gzip
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins/modules"))
sys.path.insert(0, str(ROOT / "scripts"))

import image_patches as patches  # noqa: E402
import image_scan  # noqa: E402

# Orderings dpkg itself decides: epochs, ~ before anything, +debNuM security revisions,
# binNMUs, backports, letters before other characters.
VERSIONS = [
    "0.9",
    "1.0~rc1",
    "1.0~rc1-1",
    "1.0",
    "1.0-1",
    "1.0-1+b1",
    "1.0-1+deb13u1",
    "1.0-2",
    "1.0a",
    "1.0.1",
    "1:0.9",
    "2.41-12",
    "2.41-12+deb13u1",
    "257.8-1~deb13u2",
    "257.8-1",
    "3.5.1-1+deb13u1~old",
    "3.5.1-1+deb13u1",
    "7.88.1-10+deb12u8",
    "7.88.1-10+deb12u12",
]
DPKG_STATUS = Path("/var/lib/dpkg/status")


@pytest.mark.skipif(not shutil.which("dpkg"), reason="needs dpkg (Debian controller)")
def test_version_order_is_dpkgs() -> None:
    for a, b in itertools.product(VERSIONS, VERSIONS):
        mine = patches.compare_versions(a, b)
        for op, expected in (("lt", mine < 0), ("eq", mine == 0), ("gt", mine > 0)):
            dpkg = subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False)
            assert (dpkg.returncode == 0) == expected, f"{a} {op} {b}"


STATUS = """\
Package: libssl3t64
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.5.1-1+deb13u1~old
Description: Secure Sockets Layer toolkit
 continuation line: with a colon

Package: removed-one
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.37-2+b10
"""
INDEX = {
    "libssl3t64": {"Package": "libssl3t64", "Version": "3.5.1-1+deb13u1", "Filename": "pool/x.deb"},
    "bash": {"Package": "bash", "Version": "5.2.37-2", "Filename": "pool/b.deb"},
}


def test_only_installed_packages_count_with_their_source() -> None:
    installed = patches.installed_packages(STATUS)
    assert [(p["name"], p["source"]) for p in installed] == [
        ("bash", "bash"),
        ("libssl3t64", "openssl"),
    ]


def test_a_newer_security_version_is_pending_an_older_one_is_not() -> None:
    pending = patches.pending_updates(patches.installed_packages(STATUS), INDEX)
    assert [(u["package"], u["installed"], u["fixed"]) for u in pending] == [
        ("libssl3t64", "3.5.1-1+deb13u1~old", "3.5.1-1+deb13u1")
    ]


def entry(name: str, pending: list[dict], **extra: object) -> dict:
    return {
        "id": "sha256:" + "a" * 64,
        "tags": [name],
        "codename": "trixie",
        "package_count": 2,
        "debian": True,
        "pending": pending,
        **extra,
    }


def test_finding_fails_and_names_the_package_says_whose_criterion() -> None:
    update = {"package": "libssl3t64", "installed": "3.5.1-1", "fixed": "3.5.1-1+deb13u1"}
    found = patches.finding([entry("web:1", [update]), entry("db:1", [])])
    assert found["status"] == "FAIL"
    assert "dockhard's criterion" in found["evidence"][0]
    assert (
        "web:1: 1 pending (trixie-security): libssl3t64 3.5.1-1 -> 3.5.1-1+deb13u1"
        in (found["evidence"])
    )
    assert "db:1: 2 packages, none pending" in found["evidence"]


def test_an_unreadable_index_fails_a_debian_image_only() -> None:
    broken = entry("web:1", [], error="cannot read http://mirror: timed out")
    alpine = {"id": "sha256:" + "b" * 64, "tags": ["alpine:3"], "debian": False, "error": "no dpkg"}
    assert patches.finding([broken])["status"] == "FAIL"
    assert patches.finding([alpine])["status"] == "PASS"


@pytest.mark.skipif(not DPKG_STATUS.exists(), reason="needs a dpkg database (Debian controller)")
def test_sbom_validates_and_lists_every_dpkg_package() -> None:
    """The SBOM of a real dpkg database (this machine's) against CycloneDX 1.6's schema."""
    packages = patches.installed_packages(DPKG_STATUS.read_text())
    image = {
        "id": "sha256:" + "c" * 64,
        "tags": ["dockhard/webapp:test"],
        "created": "2026-12-05T00:00:00Z",
        "codename": "trixie",
        "os": "Debian GNU/Linux 13 (trixie)",
        "packages": packages,
    }
    document = image_scan.sbom(image, ROOT / "files/app/requirements.txt")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document)) is None
    listed = {(c["name"], c["version"]) for c in document["components"]}
    assert {(p["name"], p["version"]) for p in packages} <= listed
    assert ("flask", "3.1.3") in listed
    component = document["metadata"]["component"]
    assert component["version"] == image["id"]
    assert component["hashes"] == [{"alg": "SHA-256", "content": "c" * 64}]


def test_the_schema_check_rejects_a_broken_sbom() -> None:
    """The validator used above rejects a broken SBOM (so the check above can fail)."""
    image = {"id": "sha256:" + "d" * 64, "tags": [], "created": "", "packages": []}
    document = image_scan.sbom(image, None)
    document["components"] = [{"name": "x"}]
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document)) is not None


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="needs dpkg-deb (Debian controller)")
def test_the_fix_date_is_the_newest_changelog_entry_of_a_real_deb(tmp_path: Path) -> None:
    """A .deb built by dpkg-deb, as the mirror serves them (ar with data.tar.xz)."""
    root = tmp_path / "pkg"
    doc = root / "usr/share/doc/demo"
    doc.mkdir(parents=True)
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN/control").write_text(
        "Package: demo\nVersion: 1.0-1+deb13u1\nArchitecture: all\n"
        "Maintainer: dockhard <dockhard@example.org>\nDescription: test\n"
    )
    changelog = (
        "demo (1.0-1+deb13u1) trixie-security; urgency=high\n\n  * Fix.\n\n"
        " -- A Maintainer <a@example.org>  Thu, 31 Jul 2025 15:34:36 +0200\n\n"
        "demo (1.0-1) unstable; urgency=low\n\n  * First.\n\n"
        " -- A Maintainer <a@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n"
    )
    (doc / "changelog.Debian.gz").write_bytes(gzip.compress(changelog.encode()))
    deb = tmp_path / "demo.deb"
    subprocess.run(
        ["dpkg-deb", "-Zxz", "--root-owner-group", "--build", str(root), str(deb)],
        check=True,
        capture_output=True,
    )
    assert patches.changelog_date(deb.read_bytes(), "demo") == "2025-07-31T13:34:36+00:00"
    assert patches.changelog_date(deb.read_bytes(), "other") is None


def test_a_host_without_docker_is_unreadable_not_a_crash() -> None:
    """The audit before the first converge runs where no docker CLI exists yet."""
    reader = object.__new__(patches.Reader)
    with pytest.raises(patches.Unreadable, match="/nonexistent/docker image"):
        reader.run(["/nonexistent/docker", "image", "ls"])
