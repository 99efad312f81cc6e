# Copyright: dockhard contributors
# Apache License 2.0 (see LICENSE)
"""Write a host's compliance reports on the controller, in the worker itself.

A copy task per report file ran a module on the controller for every file of
every host: three Python starts per host, the costliest part of a no-drift
rerun (docs/reruns.md). This writes the files directly and returns the host's
summary as a job artifact (set_stats), so AWX keeps it.
"""

from __future__ import annotations

import json
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.dockhard.docker_hardening.plugins.filter.compliance import (
    compliance_junit,
    compliance_markdown,
)

PHASES = ("before", "after")


def _write(path: str, text: str) -> None:
    """Replace path atomically: a reader never sees half a report."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _before(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        message = f"{path}: unreadable before report ({exc}); delete it to keep a new one"
        raise AnsibleActionFail(message) from exc


def reports(report: dict, phase: str, base: str) -> dict[str, str]:
    """The files of one phase: path -> content."""
    # As to_nice_json(indent=2) wrote them.
    as_json = json.dumps(report, indent=2, sort_keys=True, separators=(",", ": ")) + "\n"
    if phase == "before":
        return {f"{base}.before.json": as_json}
    return {
        f"{base}.json": as_json,
        f"{base}.md": compliance_markdown(report, _before(f"{base}.before.json")),
        f"{base}.xml": compliance_junit(report),
    }


def artifact(report: dict, base: str, host: str) -> dict:
    """The host's summary and failing controls, aggregated over the hosts by set_stats."""
    failing = [c["id"] for c in report["controls"] if c["status"] == "FAIL"]
    summary = {"summary": report["summary"], "failing": failing, "report": f"{base}.json"}
    return {"data": {"dockhard_compliance": {host: summary}}, "per_host": False, "aggregate": True}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("report", "phase", "base"))
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(
            argument_spec={
                "report": {"type": "dict", "required": True},
                "phase": {"type": "str", "choices": list(PHASES), "default": "after"},
                "base": {"type": "path", "required": True},
            }
        )[1]
        report, phase, base = args["report"], args["phase"], args["base"]
        files = reports(report, phase, base)
        try:
            os.makedirs(os.path.dirname(base) or ".", mode=0o755, exist_ok=True)
            for path, text in files.items():
                _write(path, text)
        except OSError as exc:
            raise AnsibleActionFail(f"cannot write the compliance reports: {exc}") from exc
        # Reports describe the host and live on the controller: output, not a
        # change to the host, so "changed" keeps meaning the hosts (in check mode too).
        result.update(changed=False, paths=sorted(files))
        if phase == "after":
            result["ansible_stats"] = artifact(report, base, task_vars["inventory_hostname"])
        return result
