#!/usr/bin/env python3
"""Write docs/variables.md from the roles' meta/argument_specs.yml (each input described once).

scripts/role_variables.py          rewrite docs/variables.md
scripts/role_variables.py --check  exit 1 when docs/variables.md is not current
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs/variables.md"


def cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def role_table(role: Path) -> list[str]:
    spec = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]
    lines = [f"## {role.name}", "", cell(spec["short_description"]), ""]
    lines += ["| variable | type | default | description |", "| --- | --- | --- | --- |"]
    for name, option in spec["options"].items():
        kind = option["type"] + (f" of {option['elements']}" if "elements" in option else "")
        if "choices" in option:
            kind += " (" + ", ".join(map(str, option["choices"])) + ")"
        default = f"`{json.dumps(option['default'])}`" if "default" in option else "computed"
        lines.append(f"| `{name}` | {kind} | {cell(default)} | {cell(option['description'])} |")
    return [*lines, ""]


def render() -> str:
    lines = [
        "# Role variables",
        "",
        "Generated from each role's `meta/argument_specs.yml` by `scripts/role_variables.py`;",
        "do not edit by hand. A wrong type or value fails the play before any host is touched.",
        "",
    ]
    roles = (p for p in (ROOT / "roles").iterdir() if (p / "meta/argument_specs.yml").exists())
    for role in sorted(roles):
        lines += role_table(role)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            stale = f"{TARGET.relative_to(ROOT)} is stale: run scripts/role_variables.py"
            print(stale, file=sys.stderr)
            return 1
        return 0
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
