# Copyright: dockhard contributors
# Apache License 2.0 (see LICENSE)
"""Why an audit-first converge of a role patches what it does (docs/reruns.md).

converge_reasons: for the IDs cis_audit's read chose (its converge_ids), one
line each: the drift, the finding with its evidence, or the catalog's "unsafe
to skip".
"""

from __future__ import annotations


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
        return {"converge_reasons": converge_reasons}
