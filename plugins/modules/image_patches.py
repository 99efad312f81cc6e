#!/usr/bin/python
# dockhard: patch currency of the host's images against Debian's security suite (CIS 4.4).
"""Which Debian packages of each image the security suite has a newer version of, read-only.

For each image the module copies the dpkg database out of a created (never started)
container, reads the security suite's package index of the image's release from the
mirror over http, and compares versions with Debian's ordering. Nothing in any image
changes; the container is removed again.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: image_patches
short_description: Pending Debian security updates of each image on the host (CIS 4.4)
description:
  - Reads the dpkg database of every selected image and the security suite's package index
    (C(<codename>-security)) of its Debian release, and lists the installed packages the suite
    has a newer version of, with the installed and the fixed version.
  - "Returns a CIS 4.4 finding in RV(findings): PASS when no image has a pending security
    update. That is dockhard's own criterion, the benchmark keeps 4.4 manual."
  - Changes nothing; supports check mode.
options:
  image_filters:
    description: docker image ls filters that select the images (default all).
    type: list
    elements: str
    default: []
  security_mirror:
    description: Debian security archive, read over plain http like apt does.
    type: str
    default: http://deb.debian.org/debian-security
  packages:
    description: Also return every installed package of each image (for an SBOM).
    type: bool
    default: false
  findings:
    description:
      - The findings of this audit so far (the fact C(docker_compliance_findings)). When given,
        the module returns that fact with the 4.4 finding added.
    type: dict
author: dockhard contributors (@dockhard)
"""

EXAMPLES = r"""
- name: Pending security updates of the app's images
  dockhard.docker_hardening.image_patches:
    image_filters: [label=org.dockhard.image]
  register: patches

- name: Fail when an image has a pending security update (CIS 4.4)
  ansible.builtin.assert:
    that: patches.findings['4.4'].status == 'PASS'
    fail_msg: "{{ patches.findings['4.4'].evidence }}"
"""

RETURN = r"""
images:
  description: Per image id, digest, tags, release, package count, pending updates (and packages).
  type: list
  returned: always
findings:
  description: The CIS 4.4 finding, status PASS or FAIL and evidence lines.
  type: dict
  returned: always
ansible_facts:
  description: C(docker_compliance_findings), when O(findings) is given.
  type: dict
  returned: when O(findings) is given
"""

import datetime
import email.utils
import gzip
import io
import json
import lzma
import re
import subprocess
import tarfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import ConnectionError as UrlError
from ansible.module_utils.urls import open_url
from ansible_collections.dockhard.docker_hardening.plugins.module_utils.findings import add_to_facts

TIMEOUT = 30
# A fix's date is read from its .deb; larger packages are not downloaded for it.
MAX_DEB_BYTES = 32 * 1024 * 1024
CHANGELOG_TRAILER = re.compile(r"^ -- .+?  (\w{3}, .+)$", re.MULTILINE)


class Unreadable(Exception):
    """Something the answer depends on could not be read."""


# ---------------------------------------------------------------- Debian versions
def _order(char: str) -> int:
    """dpkg's weight of one non-digit character: ~ first, letters before other characters."""
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_part(a: str, b: str) -> int:
    """dpkg's verrevcmp: alternate non-digit and digit runs."""
    while a or b:
        a_text, a = re.match(r"([^0-9]*)(.*)", a).groups()
        b_text, b = re.match(r"([^0-9]*)(.*)", b).groups()
        for i in range(max(len(a_text), len(b_text))):
            ca = _order(a_text[i]) if i < len(a_text) else 0
            cb = _order(b_text[i]) if i < len(b_text) else 0
            if ca != cb:
                return -1 if ca < cb else 1
        a_num, a = re.match(r"([0-9]*)(.*)", a).groups()
        b_num, b = re.match(r"([0-9]*)(.*)", b).groups()
        if int(a_num or 0) != int(b_num or 0):
            return -1 if int(a_num or 0) < int(b_num or 0) else 1
    return 0


def _split(version: str) -> tuple[int, str, str]:
    epoch, _sep, rest = version.rpartition(":") if ":" in version else ("0", "", version)
    upstream, _sep, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    return int(epoch or 0), upstream, revision


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as Debian orders the versions a and b (dpkg --compare-versions)."""
    ea, ua, ra = _split(a)
    eb, ub, rb = _split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_part(ua, ub) or _compare_part(ra, rb)


# ---------------------------------------------------------------- control files
def stanzas(text: str) -> list[dict[str, str]]:
    """Paragraphs of a Debian control file (dpkg status, Packages) with the fields we use."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue
            key, _sep, value = line.partition(":")
            fields[key] = value.strip()
        if "Package" in fields:
            out.append(fields)
    return out


def installed_packages(status_text: str) -> list[dict[str, str]]:
    """Installed packages of a dpkg status file: name, version, architecture, source."""
    packages = []
    for s in stanzas(status_text):
        if not s.get("Status", "").endswith(" installed"):
            continue
        source = s.get("Source", s["Package"]).split(" ")[0]
        packages.append(
            {
                "name": s["Package"],
                "version": s["Version"],
                "architecture": s.get("Architecture", ""),
                "source": source,
            }
        )
    return sorted(packages, key=lambda p: (p["name"], p["architecture"]))


def os_release(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {k: v.strip().strip('"') for k, v in pairs}


def pending_updates(packages: list[dict], index: dict[str, dict]) -> list[dict]:
    """Installed packages whose version in the security suite is newer."""
    pending = []
    for p in packages:
        fix = index.get(p["name"])
        if fix and compare_versions(fix["Version"], p["version"]) > 0:
            pending.append(
                {
                    "package": p["name"],
                    "source": p["source"],
                    "installed": p["version"],
                    "fixed": fix["Version"],
                    "filename": fix.get("Filename", ""),
                    "size": fix.get("Size", "0"),
                }
            )
    return pending


def ar_member(archive: bytes, prefix: str) -> bytes:
    """The first member of a Debian package (an ar archive) whose name starts with prefix."""
    if not archive.startswith(b"!<arch>\n"):
        raise ValueError("not a .deb")
    offset = 8
    while offset + 60 <= len(archive):
        name = archive[offset : offset + 16].decode().strip().rstrip("/")
        size = int(archive[offset + 48 : offset + 58].decode().strip())
        if name.startswith(prefix):
            return archive[offset + 60 : offset + 60 + size]
        offset += 60 + size + size % 2
    raise ValueError(f"no {prefix} in the .deb")


def changelog_date(deb: bytes, package: str) -> str | None:
    """ISO date of the newest changelog entry in a .deb (None where the doc is a symlink)."""
    with tarfile.open(fileobj=io.BytesIO(ar_member(deb, "data.tar"))) as data:
        try:
            member = data.getmember(f"./usr/share/doc/{package}/changelog.Debian.gz")
        except KeyError:
            return None
        handle = data.extractfile(member)
        if handle is None:
            return None
        text = gzip.decompress(handle.read()).decode("utf-8", "replace")
    found = CHANGELOG_TRAILER.search(text)
    if not found:
        return None
    stamp = email.utils.parsedate_to_datetime(found.group(1))
    return stamp.astimezone(datetime.timezone.utc).isoformat()


# ---------------------------------------------------------------- reading
class Reader:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.mirror = module.params["security_mirror"].rstrip("/")
        self._indexes: dict[tuple[str, str], dict[str, dict]] = {}
        self._published: dict[str, str | None] = {}

    def run(self, argv: list[str], binary: bool = False) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(
                argv, capture_output=True, check=False, timeout=120, text=not binary
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            # No docker CLI yet (the audit before the first converge), or a hung engine.
            raise Unreadable(f"{argv[0]} {argv[1]}: {err}") from err

    def docker_json(self, argv: list[str]):
        result = self.run(["docker", *argv])
        if result.returncode != 0:
            raise Unreadable(f"docker {' '.join(argv[:2])}: {result.stderr.strip()}")
        return json.loads(result.stdout) if result.stdout.strip() else []

    def images(self, filters: list[str]) -> list[dict]:
        argv = ["docker", "image", "ls", "--quiet", "--no-trunc"]
        result = self.run(argv + [f"--filter={f}" for f in filters])
        if result.returncode != 0:
            raise Unreadable(f"docker image ls: {result.stderr.strip()}")
        ids = sorted(set(result.stdout.split()))
        return self.docker_json(["image", "inspect", *ids]) if ids else []

    def files_of(self, image_id: str, paths: list[str]) -> dict[str, str]:
        """Files of the image, copied from a created container that never starts."""
        created = self.run(["docker", "create", "--network", "none", image_id, "/nonexistent"])
        if created.returncode != 0:
            raise Unreadable(f"docker create {image_id[:19]}: {created.stderr.strip()}")
        container = created.stdout.strip()
        try:
            out = {}
            for path in paths:
                copied = self.run(
                    ["docker", "cp", "--follow-link", f"{container}:{path}", "-"], binary=True
                )
                if copied.returncode == 0:
                    with tarfile.open(fileobj=io.BytesIO(copied.stdout)) as archive:
                        member = archive.next()
                        handle = archive.extractfile(member) if member else None
                        out[path] = handle.read().decode("utf-8", "replace") if handle else ""
            return out
        finally:
            self.run(["docker", "rm", "--force", container])

    def security_index(self, codename: str, architecture: str) -> dict[str, dict]:
        key = (codename, architecture)
        if key not in self._indexes:
            url = f"{self.mirror}/dists/{codename}-security/main/binary-{architecture}/Packages.xz"
            try:
                with open_url(url, timeout=TIMEOUT) as answer:
                    text = lzma.decompress(answer.read()).decode("utf-8", "replace")
            except (OSError, UrlError, lzma.LZMAError) as err:
                raise Unreadable(f"cannot read {url}: {err}") from err
            index: dict[str, dict] = {}
            for s in stanzas(text):
                known = index.get(s["Package"])
                if not known or compare_versions(s["Version"], known["Version"]) > 0:
                    index[s["Package"]] = s
            self._indexes[key] = index
        return self._indexes[key]

    def published(self, fix: dict) -> str | None:
        """When the fix was released: the date of the newest entry of the package's changelog."""
        filename = fix.get("filename", "")
        if filename and filename not in self._published:
            self._published[filename] = None
            if int(fix.get("size") or 0) <= MAX_DEB_BYTES:
                url = f"{self.mirror}/{filename}"
                try:
                    with open_url(url, timeout=TIMEOUT) as answer:
                        deb = answer.read(MAX_DEB_BYTES + 1)
                    self._published[filename] = changelog_date(deb, fix["package"])
                except (OSError, UrlError, ValueError, tarfile.TarError, lzma.LZMAError):
                    pass
        return self._published.get(filename)


def image_report(reader: Reader, image: dict, with_packages: bool) -> dict:
    files = reader.files_of(image["Id"], ["/var/lib/dpkg/status", "/etc/os-release"])
    entry = {
        "id": image["Id"],
        "tags": image.get("RepoTags") or [],
        "digests": image.get("RepoDigests") or [],
        "created": image.get("Created", ""),
        "labels": (image.get("Config") or {}).get("Labels") or {},
        "user": (image.get("Config") or {}).get("User") or "",
        "healthcheck": bool((image.get("Config") or {}).get("Healthcheck")),
        "size": image.get("Size", 0),
    }
    if "/var/lib/dpkg/status" not in files:
        return {**entry, "debian": False, "error": "no dpkg database: not a Debian image"}
    release = os_release(files.get("/etc/os-release", ""))
    packages = installed_packages(files["/var/lib/dpkg/status"])
    codename = release.get("VERSION_CODENAME", "")
    architecture = image.get("Architecture") or "amd64"
    entry.update(debian=True, codename=codename, os=release.get("PRETTY_NAME", ""))
    entry["package_count"] = len(packages)
    if with_packages:
        entry["packages"] = packages
    try:
        pending = pending_updates(packages, reader.security_index(codename, architecture))
    except Unreadable as err:
        return {**entry, "error": str(err)}
    for update in pending:
        update["published"] = reader.published(update)
        del update["filename"], update["size"]
    entry["pending"] = pending
    dates = [u["published"] for u in pending if u["published"]]
    entry["oldest_pending"] = min(dates) if dates else None
    return entry


def image_label(entry: dict) -> str:
    return (entry["tags"] or [entry["id"][:19]])[0]


def finding(entries: list[dict]) -> dict:
    """CIS 4.4 by dockhard's criterion: no image has a pending security update."""
    note = "dockhard's criterion (CIS keeps 4.4 manual): no pending Debian security update"
    evidence = [note]
    ok = True
    for e in entries:
        name = image_label(e)
        if e.get("error"):
            ok = ok and not e.get("debian")
            evidence.append(f"{name}: {e['error']}")
        elif e["pending"]:
            ok = False
            fixes = ", ".join(
                f"{u['package']} {u['installed']} -> {u['fixed']}" for u in e["pending"]
            )
            evidence.append(
                f"{name}: {len(e['pending'])} pending ({e['codename']}-security): {fixes}"
            )
        else:
            evidence.append(f"{name}: {e['package_count']} packages, none pending")
    if not entries:
        evidence.append("no images on the host")
    return {"status": "PASS" if ok else "FAIL", "evidence": evidence}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "image_filters": {"type": "list", "elements": "str", "default": []},
            "security_mirror": {"type": "str", "default": "http://deb.debian.org/debian-security"},
            "packages": {"type": "bool", "default": False},
            "findings": {"type": "dict"},
        },
        supports_check_mode=True,
    )
    reader = Reader(module)
    try:
        images = reader.images(module.params["image_filters"])
        entries = [image_report(reader, i, module.params["packages"]) for i in images]
        result = finding(entries)
    except Unreadable as err:
        # Like every check of the report: FAIL with what could not be read, not an error.
        entries = []
        result = {"status": "FAIL", "evidence": [finding([])["evidence"][0], str(err)]}
    findings = {"4.4": result}
    facts = add_to_facts(module.params["findings"], findings)
    module.exit_json(changed=False, images=entries, findings=findings, **facts)


if __name__ == "__main__":
    main()
