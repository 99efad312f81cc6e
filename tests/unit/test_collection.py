"""The collection's metadata, its path lookup and its execution environment (ansible-builder)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleLookupError

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
EE = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
TARBALL = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"


def load_lookup():
    path = ROOT / "plugins/lookup/collection_path.py"
    spec = importlib.util.spec_from_file_location("collection_path", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_version_is_the_top_section_of_the_changelog():
    top = re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert top and top[1] == GALAXY["version"]


def test_dependencies_are_those_of_requirements_yml():
    wanted = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]
    assert GALAXY["dependencies"] == {c["name"]: c["version"] for c in wanted}


def test_execution_environment_matches_the_collection_and_the_venv():
    galaxy = EE["dependencies"]["galaxy"]["collections"]
    assert galaxy[0] == {"name": f"collections/{TARBALL}", "type": "file"}
    wanted = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]
    assert galaxy[1:] == [{"name": c["name"], "version": c["version"]} for c in wanted]
    tarball = {"src": f"build/collection/{TARBALL}", "dest": "collections"}
    assert EE["additional_build_files"] == [tarball]
    core = re.search(
        r"^ansible-core==(\S+); python_version >= \"3.12\"$",
        (ROOT / "requirements.txt").read_text(),
        re.MULTILINE,
    )
    assert core and EE["dependencies"]["ansible_core"]["package_pip"] == f"ansible-core=={core[1]}"
    # The collection declares the same files for introspection in any EE.
    meta = yaml.safe_load((ROOT / "meta/execution-environment.yml").read_text())["dependencies"]
    assert meta == {"python": EE["dependencies"]["python"], "system": EE["dependencies"]["system"]}


def test_lookup_gives_paths_inside_the_collection():
    lookup = load_lookup()
    assert lookup.collection_file("files/app") == str(ROOT / "files/app")
    assert Path(lookup.collection_file("catalog/controls.yml")).is_file()
    # docker_pull packs the release from the root itself.
    assert lookup.collection_file(".") == str(ROOT)


@pytest.mark.parametrize("term", ["/etc/passwd", "../README.md", "files/../../x", "files/nothing"])
def test_lookup_refuses_paths_outside_or_missing(term):
    with pytest.raises(AnsibleLookupError):
        load_lookup().collection_file(term)


def test_no_role_reaches_outside_its_folder():
    outside = re.compile(r"role_path\s*~?\s*['\"]?/\.\./|role_path }}/\.\./")
    roles = (ROOT / "roles").rglob("*.yml")
    offenders = [str(p.relative_to(ROOT)) for p in roles if outside.search(p.read_text())]
    assert offenders == []


def test_ansible_builder_create_makes_a_complete_build_context(tmp_path):
    """The EE file validates and its build context holds the collection and its needs."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "execution-environment.yml", project)
    shutil.copytree(ROOT / "meta", project / "meta")
    out = project / "build/collection"
    build = subprocess.run(
        [BIN / "ansible-galaxy", "collection", "build", ROOT, "--output-path", out],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    context = tmp_path / "context"
    create = subprocess.run(
        [
            BIN / "ansible-builder",
            "create",
            "-f",
            "execution-environment.yml",
            "-c",
            context,
            "--output-filename",
            "Containerfile",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert create.returncode == 0, create.stdout + create.stderr
    containerfile = (context / "Containerfile").read_text()
    assert f'EE_BASE_IMAGE="{EE["images"]["base_image"]["name"]}"' in containerfile
    assert "ansible-galaxy collection install" in containerfile
    assert "-r requirements.yml" in containerfile
    assert "--user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile
    assert "ansible-core==2.20" in containerfile
    requirements = yaml.safe_load((context / "_build/requirements.yml").read_text())
    assert {"name": f"collections/{TARBALL}", "type": "file"} in requirements["collections"]
    assert (context / "_build/collections" / TARBALL).is_file()
    python = (context / "_build/requirements.txt").read_text()
    assert python == (ROOT / "meta/ee-requirements.txt").read_text()
    assert "boto3" in python
    assert "openssh-client" in (context / "_build/bindep.txt").read_text()
