"""roles/docker_pull/files/project_bundle.py: the release of dockhard that pull mode pushes."""

import hashlib
import importlib.util
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location(
    "project_bundle", ROOT / "roles/docker_pull/files/project_bundle.py"
)
project_bundle = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(project_bundle)


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
