# Copyright: dockhard contributors
# Apache License 2.0 (see LICENSE)
"""What an audit-first converge of a role patches (docs/reruns.md).

cis_audit's read returns the choice with the findings it is made from, so a
role needs no task of its own to choose: all the role's enabled controls on a
full converge; otherwise those that are not PASS, that drifted or that the
catalog marks unsafe to skip, and the role's own keys (such as "engine") that
drifted.
"""

from __future__ import annotations


def converge_ids(controls, findings, drift, full=False, own=()):
    """IDs (and own keys) whose remediation an audit-first converge runs, in catalog order."""
    findings = findings or {}
    drift = drift or {}
    ids = [
        c["id"]
        for c in controls
        if c["enabled"]
        and (
            full
            or not c.get("skip_safe", False)
            or c["id"] in drift
            or (findings.get(c["id"]) or {}).get("status") != "PASS"
        )
    ]
    return ids + [key for key in own if full or key in drift]
