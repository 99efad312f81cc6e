"""roles/docker_app/files/app_bundle.py: one reproducible tar of the app and its wheelhouse."""

import importlib.util
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1].parent
SPEC = importlib.util.spec_from_file_location(
    "app_bundle", ROOT / "roles/docker_app/files/app_bundle.py"
)
app_bundle = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(app_bundle)


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    app = tmp_path / "app"
    (app / "pkg" / "__pycache__").mkdir(parents=True)
    (app / "pkg" / "__init__.py").write_text("")
    (app / "pkg" / "__pycache__" / "x.cpython-313.pyc").write_bytes(b"\0")
    (app / "run.sh").write_text("#!/bin/sh\n")
    (app / "run.sh").chmod(0o700)
    wheels = tmp_path / "cache"
    wheels.mkdir()
    (wheels / "a-1.0-py3-none-any.whl").write_bytes(b"wheel")
    return app, wheels


def test_bundle_is_reproducible_and_skips_bytecode(tmp_path):
    app, wheels = _tree(tmp_path)
    first = app_bundle.bundle(app, wheels)
    (app / "run.sh").touch()
    assert app_bundle.bundle(app, wheels) == first
    out = tmp_path / "b.tar"
    out.write_bytes(first)
    with tarfile.open(out) as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert sorted(members) == [
        "pkg",
        "pkg/__init__.py",
        "run.sh",
        "wheelhouse",
        "wheelhouse/a-1.0-py3-none-any.whl",
    ]
    assert members["run.sh"].mode == 0o755
    assert members["pkg/__init__.py"].mode == 0o644
    assert {(m.uid, m.gid, m.mtime) for m in members.values()} == {(0, 0, 0)}


def test_main_writes_only_on_change(tmp_path, capsys):
    app, wheels = _tree(tmp_path)
    out = tmp_path / "b.tar"
    argv = [str(out), str(app), str(wheels)]
    assert app_bundle.main(argv) == 0
    assert app_bundle.main(argv) == 0
    (app / "new.txt").write_text("x")
    assert app_bundle.main(argv) == 0
    assert capsys.readouterr().out.split() == ["changed", "unchanged", "changed"]
