# Copyright: dockhard contributors
# Apache License 2.0 (see LICENSE)
"""Each role asks the catalog which controls it answers for and whether they are on.

The catalog (catalog/controls.yml of this collection) is the one hand-written
list of controls: a role's ID -> toggle map, its tags and the report's switch
states all come from here, so adding a control is a catalog entry, a toggle
(role default + argument spec), one remediation task and one check.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: controls
short_description: A role's CIS controls from the dockhard catalog, with their switches resolved
version_added: 0.3.0
author: dockhard contributors (@dockhard)
description:
  - Reads the control catalog (C(catalog/controls.yml) of this collection, or O(catalog)) and
    returns one entry per control of the roles named in the terms, in catalog order.
  - A control is on when its toggle is true and, if the role defines one, its section switch
    (C(<role>_section<section>), for example C(docker_app_section5)) is true too.
  - A toggle the catalog names but the play does not define is an error, never "on" by default.
  - Controls without a role (exceptions kept for the report) are not returned.
options:
  _terms:
    description: Role names, for example C(docker_daemon) (none with O(want=catalog)).
  catalog:
    description: Path of another catalog file (tests use a fixture catalog).
    type: path
  paths:
    description:
      - With O(want=fingerprint), more files or directories whose contents the fingerprint covers
        (docker_app's sources, which live outside the role).
    type: list
    elements: path
    default: []
  want:
    description:
      - C(controls) returns the entries below; C(tags) returns the roles' Ansible tags instead
        (the role names, C(section<N>) of each section and each control's tag), for the tasks
        that remediate or check all of a role's controls; C(catalog) returns the whole parsed
        catalog (the report's source), from the same once-per-process parse.
      - C(fingerprint) returns one string per role, a digest of the role's files, its catalog
        entries and the values of the variables its argument spec names; an audit-first converge
        reconverges a role in full when it differs from the one its last full converge recorded.
    type: str
    choices: [controls, tags, catalog, fingerprint]
    default: controls
"""

EXAMPLES = r"""
- name: Every task of the daemon's controls carries all their tags
  ansible.builtin.import_tasks: daemon_json.yml
  tags: "{{ query('dockhard.docker_hardening.controls', 'docker_daemon', want='tags') }}"

- name: The daemon's controls that are on
  ansible.builtin.debug:
    msg: >-
      {{ query('dockhard.docker_hardening.controls', 'docker_daemon')
         | selectattr('enabled') | map(attribute='id') }}
"""

RETURN = r"""
_list:
  description:
    - One entry per control of the named roles (or their tags, with O(want=tags)).
    - With O(want=catalog), one element, the catalog (C(benchmark), C(controls), ...).
    - With O(want=fingerprint), one sha256 hex digest per role.
  type: list
  elements: dict
  contains:
    id:
      description: CIS ID (docker-bench-security numbering) or X.n.
      type: str
    role:
      description: The role that remediates and checks it.
      type: str
    section:
      description: CIS section (1-5) or x.
      type: str
    tag:
      description: "Its Ansible tag, for example C(rule_2.2)."
      type: str
    toggle:
      description: The role variable that turns it on or off.
      type: str
    skip_safe:
      description: Whether an audit-first converge may skip it when its check and read pass.
      type: bool
    enabled:
      description: Whether the toggle and the section switch are on.
      type: bool
    off_by:
      description: "The switch that turned it off, or null."
      type: str
"""

import hashlib
import json
from pathlib import Path

import yaml
from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

CATALOG = Path(__file__).resolve().parents[2] / "catalog" / "controls.yml"
ROLES = CATALOG.parents[1] / "roles"
_CACHE: dict[tuple[str, float], dict] = {}
_CODE: dict[str, tuple[str, list[str]]] = {}


def load_catalog(path: Path) -> dict:
    """The catalog, parsed once per file version and process (it is ~2000 lines of YAML)."""
    key = (str(path), path.stat().st_mtime)
    if key not in _CACHE:
        with path.open(encoding="utf-8") as handle:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            _CACHE[key] = yaml.load(handle, Loader=loader)  # noqa: S506 (safe loader)
    return _CACHE[key]


def role_tags(controls: list[dict], roles: list[str]) -> list[str]:
    mine = [c for c in controls if c.get("role") in roles]
    sections = [f"section{c['section']}" for c in mine if str(c["section"]).isdigit()]
    return list(dict.fromkeys([*roles, *sections, *(c["tag"] for c in mine)]))


def truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def role_controls(controls: list[dict], roles: list[str], switch) -> list[dict]:
    """Entries of the roles' controls; switch(name) is the variable's value, None if undefined."""
    mine = [c for c in controls if c.get("role") in roles]
    missing = [c["toggle"] for c in mine if switch(c["toggle"]) is None]
    if missing:
        raise AnsibleLookupError(
            f"catalog toggle(s) {', '.join(missing)} are not defined: each must be a default "
            "of its role (did a role's defaults not load, or is a name misspelt?)"
        )
    entries = []
    for control in mine:
        section_switch = f"{control['role']}_section{control['section']}"
        section_on = switch(section_switch)
        off_by = None
        if not truthy(switch(control["toggle"])):
            off_by = control["toggle"]
        if section_on is not None and not truthy(section_on):
            off_by = section_switch
        entries.append(
            {
                "id": control["id"],
                "role": control["role"],
                "section": str(control["section"]),
                "tag": control["tag"],
                "toggle": control["toggle"],
                "enabled": off_by is None,
                "off_by": off_by,
                "skip_safe": bool(control.get("skip_safe", False)),
            }
        )
    return entries


def role_code(role: str) -> tuple[str, list[str]]:
    """Digest of a role's files and the names of its inputs (argument spec), once per process."""
    if role not in _CODE:
        role_dir = ROLES / role
        if not role_dir.is_dir():
            raise AnsibleLookupError(f"no role {role} under {ROLES}")
        spec_file = role_dir / "meta" / "argument_specs.yml"
        spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
        _CODE[role] = (tree_digest(role_dir), sorted(spec["argument_specs"]["main"]["options"]))
    return _CODE[role]


def tree_digest(path: Path) -> str:
    """Digest of a file, or of the names and contents of the files under a directory."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for item in files:
        if "__pycache__" not in item.parts:
            digest.update(str(item.relative_to(path.parent)).encode() + b"\0" + item.read_bytes())
    return digest.hexdigest()


def fingerprint(role: str, controls: list[dict], value, paths=()) -> str:
    """What a full converge of the role depends on: its code, catalog entries and inputs."""
    code, inputs = role_code(role)
    state = {
        "code": code,
        "paths": [tree_digest(Path(p)) for p in paths],
        "controls": [c for c in controls if c.get("role") == role],
        "inputs": {name: value(name) for name in inputs},
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        catalog = load_catalog(Path(self.get_option("catalog") or CATALOG))
        want = self.get_option("want")
        if want == "catalog":
            return [catalog]
        if want == "tags":
            return role_tags(catalog["controls"], list(terms))
        variables = variables or {}

        def switch(name):
            if name not in variables:
                return None
            return self._templar.template(variables[name])

        if want == "fingerprint":
            paths = self.get_option("paths")
            return [fingerprint(role, catalog["controls"], switch, paths) for role in terms]
        return role_controls(catalog["controls"], list(terms), switch)
