"""The generator of the threat model, diagram and summary report really ties them to the
catalog (that the committed ones are current: tests/unit/test_role_variables.py)."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import gen_docs  # noqa: E402 - a script, imported from its directory


@pytest.fixture(scope="module")
def catalog() -> list[dict]:
    return gen_docs.load_yaml(gen_docs.CATALOG)["controls"]


@pytest.fixture(scope="module")
def model() -> dict:
    return gen_docs.load_yaml(gen_docs.MODEL)


def test_model_names_only_catalog_controls(model, catalog):
    controls = {c["id"]: c for c in catalog}
    gen_docs.check_model(model, controls)
    broken = copy.deepcopy(model)
    broken["components"][0]["threats"][0]["controls"].append("9.99")
    with pytest.raises(gen_docs.ModelError, match=r"9\.99 is not in the catalog"):
        gen_docs.check_model(broken, controls)


def test_model_code_paths_must_exist(model, catalog):
    broken = copy.deepcopy(model)
    broken["boundaries"][0]["threats"][0]["code"] = ["files/app/no_such_file.py"]
    with pytest.raises(gen_docs.ModelError, match=r"no_such_file\.py does not exist"):
        gen_docs.check_model(broken, {c["id"]: c for c in catalog})


def test_control_added_to_catalog_shows_up(catalog):
    extra = copy.deepcopy(next(c for c in catalog if c["role"] == "docker_app"))
    extra.update(id="5.99", attack=[{"id": "T1059", "name": "Command and Scripting Interpreter"}])
    extra["stride"] = ["Repudiation"]
    grown = [*catalog, extra]
    attack = {row["id"]: row for row in gen_docs.attack_table(grown)}
    assert [c["id"] for c in attack["T1059"]["controls"]] == ["5.99"]
    web = {"catalog": {"roles": ["docker_app"]}}
    assert extra in gen_docs.component_controls(web, grown)["Repudiation"]
    assert "T1059" not in {row["id"] for row in gen_docs.attack_table(catalog)}


def test_every_catalog_technique_is_in_the_threat_model(catalog):
    text = (ROOT / "docs/threat_model.md").read_text()
    techniques = {t["id"] for c in catalog for t in c["attack"]}
    assert techniques
    assert [t for t in sorted(techniques) if f"| {t} " not in text] == []


def test_png_stamp_catches_a_stale_or_edited_png(tmp_path):
    dot_text = gen_docs.DOT.read_text()
    png, stamp = tmp_path / "a.png", tmp_path / "a.stamp"
    png.write_bytes(gen_docs.PNG.read_bytes())
    stamp.write_text(gen_docs.STAMP.read_text())
    assert gen_docs.png_problems(dot_text, png, stamp) == []
    assert gen_docs.png_problems(dot_text + "// changed\n", png, stamp) != []
    png.write_bytes(gen_docs.PNG_MAGIC + b"edited")
    assert any("not the PNG recorded" in p for p in gen_docs.png_problems(dot_text, png, stamp))
    stamp.unlink()
    assert gen_docs.png_problems(dot_text, png, stamp) != []
    assert json.loads(gen_docs.STAMP.read_text())["dot_sha256"] == gen_docs.sha256(
        dot_text.encode()
    )
