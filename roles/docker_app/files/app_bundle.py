#!/usr/bin/env python3
"""Pack the app sources and the wheelhouse into one reproducible tar.

usage: app_bundle.py OUT.tar APP_DIR WHEELHOUSE_DIR

Same inputs, same bytes (sorted names, fixed times, owner root, modes 0644 or
0755), so the copy to the host changes only when an input did. OUT is written
only when its content would change; prints "changed" or "unchanged".
"""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}


def _files(root: Path, prefix: str) -> list[tuple[str, Path]]:
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if SKIPPED_PARTS & set(relative.parts) or path.suffix in SKIPPED_SUFFIXES:
            continue
        found.append((f"{prefix}{relative.as_posix()}", path))
    return found


def _add(archive: tarfile.TarFile, name: str, path: Path) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if path.is_dir():
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        archive.addfile(info)
        return
    data = path.read_bytes()
    info.size = len(data)
    info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
    archive.addfile(info, io.BytesIO(data))


def bundle(app_dir: Path, wheelhouse: Path) -> bytes:
    members = [*_files(app_dir, ""), ("wheelhouse", wheelhouse), *_files(wheelhouse, "wheelhouse/")]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, path in sorted(members):
            _add(archive, name, path)
    return buffer.getvalue()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    out, app_dir, wheelhouse = Path(argv[0]), Path(argv[1]), Path(argv[2])
    data = bundle(app_dir, wheelhouse)
    if out.exists() and out.read_bytes() == data:
        print("unchanged")
        return 0
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    print("changed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
