#!/usr/bin/env python3
"""make scan: patch currency and a CycloneDX SBOM of every image on a host.

scripts/image_scan.py --host NAME [--inventory FILE]     (./dockhard scan, make scan)

plugins/modules/image_patches.py runs on the host (through Ansible, so an EC2 host
works as the local one does): it reads each image's dpkg database and the Debian
security suite's index. This script prints one row per image (packages, pending
security updates, the oldest pending fix) and writes, next to the compliance report:
- reports/compliance/<host>.patches.json: pending updates per image, installed vs fixed
  (--phase before: <host>.patches.before.json, the "before" of docs/summary_report.md);
- reports/compliance/<host>.sbom/<image>.cdx.json: CycloneDX 1.6, one per Debian image,
  tied to the image's digest (its ID), with its dpkg packages and, for the web image,
  the Python packages of the hash-pinned files/app/requirements.txt.
Exit codes: 0 no security update pending, 1 updates pending, 2 the host could not be read.
DOCKHARD_CVE_SCANNER runs an upstream CVE scanner (Trivy, Grype) on each SBOM too, where
its vulnerability database is reachable (not on this project's build machines).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL
from pip_requirements_parser import RequirementsFile

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports/compliance"
REQUIREMENTS = ROOT / "files/app/requirements.txt"
# The image whose virtualenv is installed from REQUIREMENTS (its org.dockhard.image label).
PYTHON_IMAGE = "webapp"
BIN = Path(sys.executable).parent
SBOM_NAMESPACE = uuid.UUID("6f1c1a52-52a4-4f0e-9d7e-0d0c6b1e2f21")


class Unreadable(Exception):
    """The host did not answer."""


# ---------------------------------------------------------------- reading the host
def read_host(host: str, inventory: Path) -> dict:
    """The module's result on the host, through an ad-hoc Ansible call (JSON callback)."""
    args = json.dumps({"packages": True})
    module = "dockhard.docker_hardening.image_patches"
    argv = [str(BIN / "ansible"), "-i", str(inventory), host, "-m", module]
    env = {
        **os.environ,
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.json",
    }
    result = subprocess.run(  # noqa: S603 - our own argv
        [*argv, "-a", args], capture_output=True, text=True, check=False, cwd=ROOT, env=env
    )
    try:
        answer = json.loads(result.stdout)["plays"][0]["tasks"][0]["hosts"][host]
    except (json.JSONDecodeError, KeyError, IndexError) as err:
        raise Unreadable(f"{shlex.join(argv)}: {result.stderr.strip()[-400:] or err}") from err
    if answer.get("failed") or answer.get("unreachable"):
        raise Unreadable(f"{host}: {answer.get('msg')}")
    return answer


# ---------------------------------------------------------------- SBOM
def image_name(image: dict) -> str:
    return (image["tags"] or [image["id"][7:19]])[0]


def python_components(requirements: Path) -> list[Component]:
    components = []
    for req in RequirementsFile.from_file(str(requirements)).requirements:
        version = req.get_pinned_version
        hashes = [
            HashType(alg=HashAlgorithm.SHA_256, content=h.split(":", 1)[1])
            for h in req.hash_options
            if h.startswith("sha256:")
        ]
        components.append(
            Component(
                name=req.name,
                version=version,
                type=ComponentType.LIBRARY,
                purl=PackageURL("pypi", name=req.name.lower(), version=version),
                bom_ref=f"pypi:{req.name.lower()}@{version}",
                hashes=hashes,
                properties=[Property(name="dockhard:source", value="files/app/requirements.txt")],
            )
        )
    return components


def deb_component(package: dict, distro: str) -> Component:
    qualifiers = {"arch": package["architecture"], "distro": distro}
    if package["source"] != package["name"]:
        qualifiers["upstream"] = package["source"]
    purl = PackageURL("deb", "debian", package["name"], package["version"], qualifiers=qualifiers)
    return Component(
        name=package["name"],
        version=package["version"],
        type=ComponentType.LIBRARY,
        purl=purl,
        bom_ref=str(purl),
        properties=[Property(name="dockhard:source", value="/var/lib/dpkg/status")],
    )


def sbom(image: dict, requirements: Path | None) -> dict:
    """CycloneDX 1.6 JSON of one image: its ID is the digest the SBOM describes."""
    digest = image["id"]
    repository, _, tag = image_name(image).partition(":")
    bom = Bom(serial_number=uuid.uuid5(SBOM_NAMESPACE, digest))
    bom.metadata.component = Component(
        name=repository,
        version=digest,
        type=ComponentType.CONTAINER,
        bom_ref=digest,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=digest.split(":", 1)[1])],
        purl=PackageURL(
            "oci", name=repository.rsplit("/", 1)[-1], version=digest, qualifiers={"tag": tag}
        ),
        properties=[
            Property(name="dockhard:image:tag", value=image_name(image)),
            Property(name="dockhard:image:created", value=image["created"]),
            Property(name="dockhard:image:os", value=image.get("os", "")),
        ],
    )
    distro = f"debian-{image.get('codename', '')}"
    for package in image.get("packages", []):
        bom.components.add(deb_component(package, distro))
    if requirements is not None:
        for component in python_components(requirements):
            bom.components.add(component)
    root = bom.metadata.component
    bom.register_dependency(root, list(bom.components))
    return json.loads(JsonV1Dot6(bom).output_as_string())


# ---------------------------------------------------------------- reports
def summary(image: dict) -> dict:
    keep = ("id", "tags", "created", "codename", "package_count", "pending", "oldest_pending")
    return {
        "image": image_name(image),
        **{k: image.get(k) for k in keep},
        "error": image.get("error"),
    }


def file_name(image: dict) -> str:
    return image_name(image).replace("/", "_").replace(":", "_") + ".cdx.json"


def write_reports(host: str, answer: dict, out: Path, phase: str = "after") -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    images = answer["images"]
    patches = {
        "host": host,
        "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "criterion": answer["findings"]["4.4"]["evidence"][0],
        "status": answer["findings"]["4.4"]["status"],
        "images": [summary(i) for i in images],
    }
    suffix = ".before" if phase == "before" else ""
    written = [out / f"{host}.patches{suffix}.json"]
    written[0].write_text(json.dumps(patches, indent=2) + "\n")
    sbom_dir = out / f"{host}.sbom"
    sbom_dir.mkdir(exist_ok=True)
    for image in images:
        if not image.get("debian"):
            continue
        python = REQUIREMENTS if image["labels"].get("org.dockhard.image") == PYTHON_IMAGE else None
        path = sbom_dir / file_name(image)
        path.write_text(json.dumps(sbom(image, python), indent=2) + "\n")
        written.append(path)
    for stale in set(sbom_dir.glob("*.cdx.json")) - set(written):
        stale.unlink()  # the SBOM of an image no longer on the host
    return written


def table(images: list[dict]) -> str:
    rows = [("image", "user", "size MB", "packages", "pending", "oldest pending fix")]
    for i in images:
        pending = "?" if i.get("error") else str(len(i.get("pending") or []))
        rows.append(
            (
                image_name(i),
                i.get("user") or "root",
                f"{i.get('size', 0) / 1e6:.1f}",
                str(i.get("package_count", "-")),
                pending,
                (i.get("oldest_pending") or "-")[:10] if not i.get("error") else i["error"][:60],
            )
        )
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows)
    return "\n".join(line.rstrip() for line in lines)


def external_scanner(sboms: list[Path]) -> int:
    """DOCKHARD_CVE_SCANNER: a CVE scanner run on each SBOM, where its database is reachable.

    The command's {sbom} is replaced by the SBOM's path, e.g. "trivy sbom --exit-code 1 {sbom}"
    or "grype sbom:{sbom} --fail-on high". Its exit code is the scan's.
    """
    command = os.environ.get("DOCKHARD_CVE_SCANNER", "")
    worst = 0
    for path in sboms if command else []:
        argv = [part.replace("{sbom}", str(path)) for part in shlex.split(command)]
        print(f"DOCKHARD_CVE_SCANNER: {shlex.join(argv)}")
        worst = max(worst, subprocess.run(argv, check=False, cwd=ROOT).returncode)  # noqa: S603
    return worst


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("DOCKHARD_DEMO_HOST", "dockhard-local"))
    parser.add_argument("--inventory", type=Path, default=ROOT / "inventory/local/hosts.yml")
    parser.add_argument("--out", type=Path, default=REPORTS)
    parser.add_argument(
        "--phase",
        choices=("before", "after"),
        default="after",
        help="before: write <host>.patches.before.json (e.g. before a rebuild), for the summary",
    )
    args = parser.parse_args(argv)
    try:
        answer = read_host(args.host, args.inventory)
    except Unreadable as why:
        print(f"scan: {why}", file=sys.stderr)
        return 2
    print(table(answer["images"]) if answer["images"] else "no image could be read:")
    for image in answer["images"]:
        for u in image.get("pending") or []:
            print(f"  {image_name(image)}: {u['package']} {u['installed']} -> {u['fixed']}")
    written = write_reports(args.host, answer, args.out, args.phase)
    for path in written:
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    finding = answer["findings"]["4.4"]
    if not answer["images"]:
        print("\n".join(f"  {line}" for line in finding["evidence"][1:]))
    print(f"CIS 4.4 ({finding['evidence'][0]}): {finding['status']}")
    scanner = external_scanner([p for p in written if p.name.endswith(".cdx.json")])
    return 1 if finding["status"] != "PASS" or scanner else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
