#!/usr/bin/env python3
"""Pack what an on-host run of dockhard needs into one reproducible tar.

usage: project_bundle.py OUT.tar PROJECT_DIR PATH...

PATHs are relative to PROJECT_DIR (files, directories or symlinks; missing
ones are skipped, so a checkout and an installed collection both work). Same
inputs, same bytes (sorted names, fixed times, owner root, modes 0644 or
0755, symlinks kept as links), so the copy to the host changes only when an
input did. OUT is written only when its content would change. Prints the
tar's sha256, by which the host keeps its releases apart.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tarfile
from pathlib import Path

SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}


def _wanted(relative: Path) -> bool:
    return not (SKIPPED_PARTS & set(relative.parts) or relative.suffix in SKIPPED_SUFFIXES)


def _members(root: Path, path: str) -> list[Path]:
    """The path and, for a real directory, everything under it (links not followed)."""
    top = root / path
    if not top.is_symlink() and not top.exists():
        return []
    found = [top]
    if top.is_dir() and not top.is_symlink():
        for folder, dirs, files in os.walk(top):
            found += [Path(folder) / name for name in dirs + files]
    return [p for p in found if _wanted(p.relative_to(root))]


def _info(root: Path, path: Path) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(path.relative_to(root).as_posix())
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if path.is_symlink():
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(path)
        info.mode = 0o777
        return info, None
    if path.is_dir():
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        return info, None
    data = path.read_bytes()
    info.size = len(data)
    info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
    return info, data


def bundle(root: Path, paths: list[str]) -> bytes:
    members = sorted({m for p in paths for m in _members(root, p)})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in members:
            info, data = _info(root, path)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out, root, paths = Path(argv[0]), Path(argv[1]).resolve(), argv[2:]
    data = bundle(root, paths)
    if not (out.exists() and out.read_bytes() == data):
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(out)
    print(hashlib.sha256(data).hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
