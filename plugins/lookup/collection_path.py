# Copyright: dockhard contributors
# Apache License 2.0 (see LICENSE)
"""Path of a file inside this collection, wherever the collection is installed."""

from __future__ import annotations

DOCUMENTATION = r"""
name: collection_path
short_description: Path of a file shipped in the dockhard.docker_hardening collection
version_added: 0.3.0
author: dockhard contributors (@dockhard)
description:
  - Returns the absolute path of each term, a path relative to the root of this collection
    (for example C(files/app) or C(catalog/controls.yml)).
  - The root is found from this plugin's own location, so roles find the collection's top-level
    files in a checkout, in a collections path and in an execution environment alike.
  - Fails when a term is absolute, leaves the collection (C(..)) or names nothing that exists.
options:
  _terms:
    description: Paths relative to the collection root.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Read the control catalog shipped with the collection
  ansible.builtin.set_fact:
    catalog: "{{ lookup('ansible.builtin.file', catalog_file) | from_yaml }}"
  vars:
    catalog_file: >-
      {{ lookup('dockhard.docker_hardening.collection_path', 'catalog/controls.yml') }}

- name: Where the app sources are
  ansible.builtin.debug:
    msg: "{{ lookup('dockhard.docker_hardening.collection_path', 'files/app') }}"
"""

RETURN = r"""
_raw:
  description: The absolute path of each term inside the collection.
  type: list
  elements: path
"""

from pathlib import Path

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

# plugins/lookup/collection_path.py -> the collection root, three levels up.
ROOT = Path(__file__).resolve().parents[2]


def collection_file(term: str) -> str:
    """The absolute path of term inside the collection, refused if outside or missing."""
    relative = Path(term)
    if relative.is_absolute() or ".." in relative.parts:
        raise AnsibleLookupError(f"collection_path: {term!r} is not a path inside the collection")
    path = ROOT / relative
    if not path.exists():
        raise AnsibleLookupError(f"collection_path: {term!r} does not exist in {ROOT}")
    return str(path)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return [collection_file(str(term)) for term in terms]
