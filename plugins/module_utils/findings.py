# Copyright: dockhard contributors
# Apache License 2.0 (see LICENSE)
"""The one findings fact of a compliance pass, shared by the checks that add to it."""

from __future__ import annotations

FACT = "docker_compliance_findings"


def add_to_facts(so_far, findings):
    """The fact with these findings added, as module results; nothing when the task passed none."""
    if so_far is None:
        return {}
    return {"ansible_facts": {FACT: {**so_far, **findings}}}
