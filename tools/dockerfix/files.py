"""Finding the inputs, writing them atomically, and the git-style diff."""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from dockerfix.common import COMPOSE_NAMES, SKIP_DIRS, FixError, Outcome

# --------------------------------------------------------------------------- files


def kind_of(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".bak") or name.startswith("."):
        return None
    if name == "daemon.json" or name.endswith(".json"):
        return "daemon"
    if name in COMPOSE_NAMES or name.startswith(("compose.", "docker-compose.")):
        return "compose" if name.endswith((".yml", ".yaml")) else None
    if name == "dockerfile" or name.startswith("dockerfile.") or name.endswith(".dockerfile"):
        return "dockerfile"
    return None


def collect(paths: list[Path], forced: str | None) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            found += [(p, k) for p in walk(path) if (k := kind_of(p)) and not p.is_dir()]
        elif path.is_file():
            yaml_suffix = path.suffix in (".yml", ".yaml")
            kind = forced or kind_of(path) or ("compose" if yaml_suffix else None)
            if kind is None:
                raise FixError(f"{path}: cannot tell what it is: use --kind")
            found.append((path, kind))
        else:
            raise FixError(f"{path}: no such file or directory")
    return found


def walk(folder: Path) -> Iterable[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        yield from (Path(root) / f for f in sorted(files))


def backup_name(path: Path) -> Path:
    return path.with_name(f"{path.name}.{time.strftime('%Y%m%d%H%M%S')}.bak")


def write_atomic(path: Path, text: str, mode: int | None = None, backup: bool = True) -> None:
    """Write through a temporary file in the same directory and rename it over the target."""
    old = path.stat() if path.exists() else None
    if old is not None and backup:
        shutil.copy2(path, backup_name(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode if mode is not None else (old.st_mode & 0o7777 if old else 0o644))
        if old is not None and os.geteuid() == 0:
            os.chown(tmp, old.st_uid, old.st_gid)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_secrets(files: dict[Path, str]) -> None:
    """Secret files in a 0700 dir; 0644 so a container user (remapped or not) can read them."""
    for path, value in files.items():
        path.parent.mkdir(mode=0o700, exist_ok=True)
        os.chmod(path.parent, 0o700)
        ignore = path.parent / ".gitignore"
        if not ignore.exists():
            write_atomic(ignore, "*\n", backup=False)
        write_atomic(path, value, mode=0o644, backup=False)


def patch_name(path: Path) -> str:
    """The path as `git apply` and `patch -p1` read it: relative to here, or to / (as git)."""
    relative = Path(os.path.relpath(path)).as_posix()
    return relative if not relative.startswith("..") else path.resolve().as_posix().lstrip("/")


def file_diff(path: Path, old: str, new: str) -> str:
    """A unified diff with git's a/ and b/ prefixes (a new file comes from /dev/null)."""
    name = patch_name(path)
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile="/dev/null" if not old and not path.exists() else f"a/{name}",
        tofile=f"b/{name}",
    )
    # A last line without a newline needs the marker, or the patch does not apply.
    return "".join(
        line if line.endswith("\n") else f"{line}\n\\ No newline at end of file\n" for line in lines
    )


def unified_diff(outcome: Outcome) -> str:
    text = file_diff(outcome.path, outcome.old, outcome.new)
    for path, (old, new) in outcome.side_files.items():
        text += file_diff(path, old, new)
    for path in outcome.extra_files:
        # Not a diff line (the value stays out of the output): patch tools skip it.
        text += f"# {patch_name(path)} (new secret file, value not shown)\n"
    return text
