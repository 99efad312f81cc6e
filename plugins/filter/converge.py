# Copyright: dockhard contributors
# Apache License 2.0 (see LICENSE)
"""Why an audit-first converge of a role patches what it does (docs/reruns.md).

converge_reasons: for the IDs cis_audit's read chose (its converge_ids), one
line per reason (the drift, the finding with its evidence, or the catalog's
"unsafe to skip") with the IDs it holds for.
"""

from __future__ import annotations


def converge_reasons(ids, controls, findings, drift):
    """Why the IDs are converged, one line per reason with the IDs it holds for:
    their drift, their finding, or the catalog."""
    findings = findings or {}
    drift = drift or {}
    safe = {c["id"]: c.get("skip_safe", False) for c in controls}
    by_reason = {}
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
        by_reason.setdefault(why, []).append(key)
    return [f"{', '.join(keys)}: {why}" for why, keys in by_reason.items()]


class FilterModule:
    def filters(self):
        return {"converge_reasons": converge_reasons}
