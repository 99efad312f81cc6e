"""What both tool test modules need: the tool imported from tools/, and the
command line run on a path (the run must succeed)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TOOL = ROOT / "tools" / "docker_security_fixes.py"
sys.path.insert(0, str(TOOL.parent))

import docker_security_fixes as dsf  # noqa: E402


def run(*args: str | Path) -> int:
    return dsf.main([str(a) for a in args])


def fix(path: Path, *extra: str) -> str:
    assert run("--no-validate", *extra, path) == 0
    return path.read_text()
