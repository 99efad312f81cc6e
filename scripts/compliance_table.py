#!/usr/bin/env python3
"""Print a host's compliance report (reports/compliance/<host>.json) as a short table.

Per CIS section: PASS / FAIL / EXCEPTION before the first converge and now,
then the controls that fail now. Reads only the JSON that playbooks/audit.yml
writes; exits 1 when the report is missing or a control fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = {
    "1": "host configuration",
    "2": "daemon configuration",
    "3": "daemon files",
    "4": "images and build files",
    "5": "container runtime",
    "x": "EC2 extras",
}


def counts(report: dict | None) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for control in (report or {}).get("controls", []):
        row = table.setdefault(str(control["section"]), {"PASS": 0, "FAIL": 0, "EXCEPTION": 0})
        row[control["status"]] += 1
    return table


def render(now: dict, before: dict | None) -> str:
    now_c, before_c = counts(now), counts(before)

    def cell(row: dict[str, int] | None) -> str:
        return f"{row['PASS']:>4} {row['FAIL']:>4} {row['EXCEPTION']:>4}" if row else f"{'-':>14}"

    bench = now["benchmark"]
    lines = [
        f"{bench['name']} v{bench['version']} on {now['host']}",
        f"{'section':<28} {'before: pass fail exc':>21}   {'now: pass fail exc':>18}",
    ]
    for key, title in SECTIONS.items():
        if key in now_c:
            lines.append(
                f"{key + ' ' + title:<28} {cell(before_c.get(key)):>21}   {cell(now_c[key]):>18}"
            )
    total_now = now["summary"]
    total_before = before["summary"] if before else None
    lines.append(f"{'total':<28} {cell(total_before):>21}   {cell(total_now):>18}")
    failing = [c["id"] for c in now["controls"] if c["status"] == "FAIL"]
    lines.append("failing now: " + (", ".join(failing) if failing else "none"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("--dir", type=Path, default=ROOT / "reports" / "compliance")
    args = parser.parse_args(argv)
    path = args.dir / f"{args.host}.json"
    if not path.exists():
        print(f"no report at {path}: run playbooks/audit.yml first", file=sys.stderr)
        return 1
    now = json.loads(path.read_text())
    before_path = args.dir / f"{args.host}.before.json"
    before = json.loads(before_path.read_text()) if before_path.exists() else None
    print(render(now, before))
    print(f"full report: {path.with_suffix('.md')} (JSON {path.name}, JUnit {path.stem}.xml)")
    return 1 if now["summary"]["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
