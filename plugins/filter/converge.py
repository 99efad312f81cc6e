# Copyright: dockhard contributors
# Apache License 2.0 (see LICENSE)
"""What an audit-first converge of a role patches (docs/reruns.md).

converge_ids: from the role's controls (the controls lookup), the findings of
its check and the drift its read found in what it manages, the IDs whose
remediation must run: all of them on a full converge, otherwise the enabled
controls that are not PASS, that drifted or that the catalog marks unsafe to
skip, and the role's own keys (such as "engine") that drifted.
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


class FilterModule:
    def filters(self):
        return {"converge_ids": converge_ids}
