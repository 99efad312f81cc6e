#!/usr/bin/env python3
"""Pack what an on-host run of dockhard needs into one reproducible tar.

usage: project_bundle.py OUT.tar PROJECT_DIR PATH... [--collection NS.NAME]...

PATHs are relative to PROJECT_DIR (files, directories or symlinks; missing
ones are skipped, so a checkout and an installed collection both work). Each
--collection is taken from where this Python's ansible-galaxy finds it on the
controller (the versions the controller runs), its plugins, meta and licenses
only, under collections/ansible_collections/NS/NAME: the host then needs only
Debian's ansible-core. Same inputs, same bytes (sorted names, fixed times,
owner root, modes 0644 or 0755, symlinks kept as links), so the copy to the
host changes only when an input did. OUT is written only when its content
would change. Prints the tar's sha256, by which the host keeps its releases
apart.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}
# What ansible-core loads from a collection, and its licenses (GPL: they travel with the code).
COLLECTION_PARTS = ("MANIFEST.json", "meta", "plugins", "COPYING", "LICENSE", "LICENSES")
COLLECTIONS_DIR = "collections/ansible_collections"

Entry = tuple[str, Path]  # (name in the tar, source path)


def _wanted(relative: Path) -> bool:
    return not (SKIPPED_PARTS & set(relative.parts) or relative.suffix in SKIPPED_SUFFIXES)


def _walk(root: Path, path: str) -> list[Path]:
    """The path and, for a real directory, everything under it (links not followed)."""
    top = root / path
    if not top.is_symlink() and not top.exists():
        return []
    found = [top]
    if top.is_dir() and not top.is_symlink():
        for folder, dirs, files in os.walk(top):
            found += [Path(folder) / name for name in dirs + files]
    return [p for p in found if _wanted(p.relative_to(root))]


def _entries(root: Path, paths: list[str], prefix: str = "") -> list[Entry]:
    return [
        (prefix + p.relative_to(root).as_posix(), p) for path in paths for p in _walk(root, path)
    ]


def _collection_entries(name: str, source: Path) -> list[Entry]:
    namespace, collection = name.split(".")
    prefix = f"{COLLECTIONS_DIR}/{namespace}/{collection}"
    tops = [(f"{COLLECTIONS_DIR}/{namespace}", source.parent), (prefix, source)]
    return tops + _entries(source, list(COLLECTION_PARTS), prefix + "/")


def collection_dir(name: str) -> Path:
    """Where the controller's ansible-galaxy finds the collection (first in its search order)."""
    galaxy = [sys.executable, "-m", "ansible.cli.galaxy"]
    listed = subprocess.run(  # noqa: S603 - this Python's own ansible-galaxy, argv list, no shell
        [*galaxy, "collection", "list", name, "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    for base, found in json.loads(listed.stdout or "{}").items():
        if name in found:
            return Path(base, *name.split("."))
    raise LookupError(f"collection {name} is not installed on the controller")


def _info(name: str, path: Path) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
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


def bundle(root: Path, paths: list[str], collections: dict[str, Path] | None = None) -> bytes:
    entries = _entries(root, paths)
    for name, source in (collections or {}).items():
        entries += _collection_entries(name, source)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, path in sorted(dict(entries).items()):
            info, data = _info(name, path)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("root", type=Path)
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--collection", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        collections = {name: collection_dir(name) for name in args.collection}
    except LookupError as error:
        print(f"project_bundle: {error}", file=sys.stderr)
        return 1
    data = bundle(args.root.resolve(), args.paths, collections)
    if not (args.out.exists() and args.out.read_bytes() == data):
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(args.out)
    print(hashlib.sha256(data).hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
