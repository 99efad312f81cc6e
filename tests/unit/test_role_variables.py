"""docs/variables.md is generated from the roles' argument specs and must be current."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_variables_doc_is_current():
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts/role_variables.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_every_role_has_an_argument_spec():
    roles = [p for p in (ROOT / "roles").iterdir() if p.is_dir()]
    assert roles
    assert [r.name for r in roles if not (r / "meta/argument_specs.yml").exists()] == []
