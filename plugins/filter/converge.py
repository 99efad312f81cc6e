# Copyright: dockhard contributors
# Apache License 2.0 (see LICENSE)
"""What an audit-first converge of a role patches (docs/reruns.md).

converge_ids: from the role's controls (the controls lookup), the findings of
its check and the drift its read found in what it manages, the IDs whose
remediation must run: all of them on a full converge, otherwise the enabled
controls that are not PASS, that drifted or that the catalog marks unsafe to
skip, and the role's own keys (such as "engine") that drifted.
converge_reasons: why, one line per ID, for the run's output.
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


def converge_reasons(ids, controls, findings, drift):
    """Why each ID is converged, one line each: its finding, its drift, or the catalog."""
    findings = findings or {}
    drift = drift or {}
    safe = {c["id"]: c.get("skip_safe", False) for c in controls}
    lines = []
    for key in ids:
        found = findings.get(key) or {}
        if key in drift:
            why = "; ".join(drift[key])
        elif found.get("status") not in (None, "PASS"):
            why = f"{found['status']}: {'; '.join(found.get('evidence') or [])}"
        elif key in safe and not safe[key]:
            why = "unsafe to skip (catalog skip_safe: false)"
        else:
            why = "not checked"
        lines.append(f"{key}: {why}")
    return lines


class FilterModule:
    def filters(self):
        return {"converge_ids": converge_ids, "converge_reasons": converge_reasons}
