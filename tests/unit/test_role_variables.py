"""Generated docs must be current: docs/variables.md (from the roles' argument specs) and
the docs scripts/gen_docs.py makes from the catalog and the roles."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# Each generator's --check fails when its committed output is stale:
# docs/variables.md, and the threat model, diagram and summary report.
@pytest.mark.parametrize("script", ["role_variables.py", "gen_docs.py"])
def test_generated_docs_are_current(script):
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout[-4000:] + check.stderr


def test_every_role_has_an_argument_spec():
    roles = [p for p in (ROOT / "roles").iterdir() if p.is_dir()]
    assert roles
    assert [r.name for r in roles if not (r / "meta/argument_specs.yml").exists()] == []
