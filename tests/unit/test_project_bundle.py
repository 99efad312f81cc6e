"""roles/docker_pull/files/project_bundle.py: the release of dockhard that pull mode pushes."""

import hashlib
import importlib.util
import re
import tarfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location(
    "project_bundle", ROOT / "roles/docker_pull/files/project_bundle.py"
)
project_bundle = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(project_bundle)
# A module (a task's key), filter or lookup named by FQCN: namespace.collection.name
FQCN = re.compile(
    r"^\s*(?:- )?([a-z_]+)\.([a-z_]+)\.[a-z_0-9]+:"
    r"|(?:\|\s*|(?:lookup|query)\(['\"])([a-z_]+)\.([a-z_]+)\.",
    re.MULTILINE,
)


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "roles/r/tasks/__pycache__").mkdir(parents=True)
    (root / "roles/r/tasks/main.yml").write_text("---\n")
    (root / "roles/r/tasks/__pycache__/x.pyc").write_bytes(b"\0")
    (root / "collections/ansible_collections/ns").mkdir(parents=True)
    (root / "collections/ansible_collections/ns/name").symlink_to("../../..")
    (root / "ansible.cfg").write_text("[defaults]\n")
    (root / "tests").mkdir()
    (root / "tests/test_x.py").write_text("")
    return root


def _members(data: bytes, tmp_path: Path) -> dict[str, tarfile.TarInfo]:
    out = tmp_path / "out.tar"
    out.write_bytes(data)
    with tarfile.open(out) as archive:
        return {m.name: m for m in archive.getmembers()}


def test_bundle_holds_the_named_paths_and_keeps_links(tmp_path):
    root = _project(tmp_path)
    members = _members(
        project_bundle.bundle(root, ["ansible.cfg", "roles", "collections", "galaxy.yml"]), tmp_path
    )
    assert sorted(members) == [
        "ansible.cfg",
        "collections",
        "collections/ansible_collections",
        "collections/ansible_collections/ns",
        "collections/ansible_collections/ns/name",
        "roles",
        "roles/r",
        "roles/r/tasks",
        "roles/r/tasks/main.yml",
    ]
    link = members["collections/ansible_collections/ns/name"]
    assert link.issym() and link.linkname == "../../.."
    assert {(m.uid, m.gid, m.mtime) for m in members.values()} == {(0, 0, 0)}


def test_bundle_is_reproducible(tmp_path):
    root = _project(tmp_path)
    first = project_bundle.bundle(root, ["ansible.cfg", "roles"])
    (root / "ansible.cfg").touch()
    assert project_bundle.bundle(root, ["ansible.cfg", "roles"]) == first


def test_main_prints_the_checksum_and_rewrites_only_on_change(tmp_path, capsys):
    root = _project(tmp_path)
    out = tmp_path / "cache/dockhard.tar"
    assert project_bundle.main([str(out), str(root), "roles"]) == 0
    first = capsys.readouterr().out.strip()
    assert first == hashlib.sha256(out.read_bytes()).hexdigest()
    stamp = out.stat().st_mtime_ns
    assert project_bundle.main([str(out), str(root), "roles"]) == 0
    assert (capsys.readouterr().out.strip(), out.stat().st_mtime_ns) == (first, stamp)
    (root / "roles/r/tasks/main.yml").write_text("---\n# changed\n")
    project_bundle.main([str(out), str(root), "roles"])
    assert capsys.readouterr().out.strip() == hashlib.sha256(out.read_bytes()).hexdigest() != first


def test_bundle_carries_a_collections_runtime_parts_only(tmp_path):
    source = tmp_path / "site/ansible_collections/ns/name"
    (source / "plugins/modules").mkdir(parents=True)
    (source / "plugins/modules/m.py").write_text("")
    (source / "meta").mkdir()
    (source / "meta/runtime.yml").write_text("---\n")
    (source / "tests/unit").mkdir(parents=True)
    (source / "COPYING").write_text("GPL\n")
    (source / "README.md").write_text("")
    members = _members(project_bundle.bundle(tmp_path, [], {"ns.name": source}), tmp_path)
    prefix = "collections/ansible_collections/ns"
    assert sorted(members) == [
        prefix,
        f"{prefix}/name",
        f"{prefix}/name/COPYING",
        f"{prefix}/name/meta",
        f"{prefix}/name/meta/runtime.yml",
        f"{prefix}/name/plugins",
        f"{prefix}/name/plugins/modules",
        f"{prefix}/name/plugins/modules/m.py",
    ]


def test_collection_dir_is_where_the_controllers_ansible_finds_it():
    found = project_bundle.collection_dir("ansible.posix")
    assert (found / "plugins/modules/mount.py").is_file()
    assert found.parts[-3:] == ("ansible_collections", "ansible", "posix")


def test_main_refuses_a_collection_the_controller_lacks(tmp_path, capsys):
    root = _project(tmp_path)
    out = tmp_path / "out.tar"
    assert project_bundle.main([str(out), str(root), "roles", "--collection=nope.absent"]) == 1
    assert "nope.absent is not installed" in capsys.readouterr().err
    assert not out.exists()


def test_the_release_carries_every_collection_the_roles_use():
    """Each collection the roles and playbooks name by FQCN (but ansible.builtin, this
    collection and the EC2 provisioning, which runs on the controller only) is in
    docker_pull_collections, or an on-host run with Debian's ansible-core fails."""
    pull_vars = yaml.safe_load((ROOT / "roles/docker_pull/vars/main.yml").read_text())
    sources = [*ROOT.glob("roles/*/tasks/*.yml"), *ROOT.glob("roles/*/handlers/*.yml")]
    sources += [p for p in ROOT.glob("playbooks/*.yml") if p.name != "provision_ec2.yml"]
    installed = project_bundle.collection_dir("ansible.posix").parents[1]
    used = {
        tuple(part for part in match.groups() if part)
        for path in sources
        if not path.is_relative_to(ROOT / "roles/ec2_provision")
        and path.name != "provision_ec2.yml"
        for match in FQCN.finditer(path.read_text())
    }
    # Only names of installed collections (a label such as org.dockhard.image: is not one).
    collections = {".".join(name) for name in used if installed.joinpath(*name).is_dir()}
    assert "dockhard.docker_hardening" in {".".join(name) for name in used}
    assert collections - {"ansible.builtin"} == set(pull_vars["docker_pull_collections"])
