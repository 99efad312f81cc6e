"""The interpreter running these tests has exactly the pinned runtime packages."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest

REQUIREMENTS = Path(__file__).resolve().parents[3] / "files" / "app" / "requirements.txt"
PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def _pins() -> dict[str, str]:
    return dict(PIN_RE.findall(REQUIREMENTS.read_text(encoding="utf-8")))


def test_every_pin_has_a_hash() -> None:
    hashes: dict[str, int] = {}
    current = ""
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        pin = PIN_RE.match(line)
        if pin:
            current = pin.group(1)
            hashes[current] = 0
        elif line.strip().startswith("--hash=sha256:") and current:
            hashes[current] += 1
    assert {"flask", "gunicorn", "psycopg"} <= set(hashes)
    assert all(count > 0 for count in hashes.values()), hashes
    assert set(hashes) == set(_pins())


def test_installed_versions_match_the_pins() -> None:
    for name in ("flask", "gunicorn", "psycopg"):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            pytest.skip(f"install files/app/requirements.txt to run the app tests ({name} missing)")
        assert installed == _pins()[name], name
