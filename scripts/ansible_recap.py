"""The PLAY RECAP of an ansible-playbook run, per host.

One parser for scripts/bench.py and the tests that run playbooks
(tests/integration, tests/fleet); they add this directory to sys.path.
"""

from __future__ import annotations

import re

RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$")
# Colour codes: Molecule forces colour on (ANSIBLE_FORCE_COLOR) unless told not to.
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse_recap(text: str) -> dict[str, dict[str, int]]:
    """The counts per host (ok, changed, failed, ...) of the last PLAY RECAP in text;
    {} when there is none (the playbook did not run)."""
    text = ANSI.sub("", text)
    start = text.rfind("PLAY RECAP")
    if start < 0:
        return {}
    hosts: dict[str, dict[str, int]] = {}
    for line in text[start:].splitlines()[1:]:
        match = RECAP_LINE.match(line.strip())
        if match:
            counts = dict(item.split("=") for item in match["counts"].split())
            hosts[match["host"]] = {key: int(value) for key, value in counts.items()}
        elif line.strip() and hosts:
            break
    return hosts


def recap_total(recap: dict[str, dict[str, int]], key: str) -> int:
    """Sum of one count over all hosts."""
    return sum(counts.get(key, 0) for counts in recap.values())
