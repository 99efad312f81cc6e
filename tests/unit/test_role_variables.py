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


def _toggles_of(catalog, role):
    return {c["toggle"] for c in catalog["controls"] if c.get("role") == role}


def test_catalog_toggles_are_exactly_the_roles_cis_switches():
    """Every catalog toggle is a role default with an argument-spec entry, and every
    default that looks like a control switch (<role>_cis_* or <role>_x_*) is in the catalog."""
    import yaml

    catalog = yaml.safe_load((ROOT / "catalog/controls.yml").read_text())
    problems = []
    for role_dir in sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir()):
        role = role_dir.name
        defaults_file = role_dir / "defaults/main.yml"
        text = defaults_file.read_text() if defaults_file.exists() else ""
        defaults = yaml.safe_load(text) or {}
        spec = yaml.safe_load((role_dir / "meta/argument_specs.yml").read_text())
        options = set(spec["argument_specs"]["main"].get("options") or {})
        switches = {n for n in defaults if n.startswith((f"{role}_cis_", f"{role}_x_"))}
        toggles = _toggles_of(catalog, role)
        problems += [f"{t}: catalog toggle, no default in {role}" for t in toggles - set(defaults)]
        problems += [f"{t}: catalog toggle, no argument spec in {role}" for t in toggles - options]
        problems += [f"{s}: default of {role}, not a catalog toggle" for s in switches - toggles]
    assert problems == []
