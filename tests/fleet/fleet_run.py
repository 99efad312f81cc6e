"""The rolling converge of molecule/fleet, run once and checked by every test.

It is expected to fail (dockhard-fleet-3 is broken on purpose), which is why it
runs here and not as Molecule's converge step.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import testinfra

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from ansible_recap import parse_recap  # noqa: E402 - from the path added above

# The fleet setting docs/ec2.md recommends, scaled to four hosts: a canary, then half.
ROLLING = {"dockhard_serial": [1, "50%"], "dockhard_max_fail_percentage": 0}
CONVERGED = ["dockhard-fleet-1"]
STOPPED = ["dockhard-fleet-2"]
BROKEN = ["dockhard-fleet-3"]
UNTOUCHED = ["dockhard-fleet-4"]


@dataclass
class Rolling:
    rc: int
    stdout: str
    stderr: str
    recap: dict[str, dict[str, int]]

    def batches(self, play: str = "Converge Docker hosts") -> list[set[str]]:
        """The hosts that took part in each run of a play (one run per serial batch)."""
        runs = re.split(r"^PLAY \[", self.stdout, flags=re.MULTILINE)[1:]
        names = "|".join(CONVERGED + STOPPED + BROKEN + UNTOUCHED)
        return [
            set(re.findall(rf"\[({names})[\]\s]", body))
            for body in runs
            if body.startswith(f"{play}]")
        ]


@pytest.fixture(scope="session")
def inventory() -> str:
    path = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not path:
        pytest.skip("needs the Molecule inventory (run through molecule verify -s fleet)")
    return path


@pytest.fixture(scope="session")
def rolling(inventory: str) -> Rolling:
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory]
    argv += [str(ROOT / "playbooks/site.yml"), "-e", json.dumps(ROLLING)]
    # Molecule forces colours on; the recap is parsed, so turn them off.
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    play = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports/molecule-fleet-rolling.log").write_text(play.stdout + play.stderr)
    assert "PLAY RECAP" in play.stdout, play.stdout[-3000:] + play.stderr[-3000:]
    return Rolling(play.returncode, play.stdout, play.stderr, parse_recap(play.stdout))


@pytest.fixture(scope="session")
def fleet(inventory: str, rolling: Rolling):
    """testinfra hosts by name, reached after the rolling run."""
    return {
        name: testinfra.get_host(f"ansible://{name}", ansible_inventory=inventory)
        for name in CONVERGED + STOPPED + BROKEN + UNTOUCHED
    }
