#!/usr/bin/env python3
"""Generate the docs that must not go stale, from the catalog, the roles and measured numbers.

scripts/gen_docs.py          write docs/threat_model.md, docs/architecture.dot,
                             docs/summary_report.md, and render docs/architecture_diagram.png
                             with Graphviz's dot (skipped with a note when dot is missing)
scripts/gen_docs.py --check  write nothing; exit 1 with a diff when a generated file differs,
                             or when the PNG was not rendered from the current .dot

Inputs: catalog/controls.yml (IDs, titles, NIST, ATT&CK, STRIDE, exceptions),
docs/src/threat_model.yml (components, boundaries, threats, the original app's
vulnerabilities), role defaults and compose.yaml (the topology), and
docs/src/measurements.json (written by scripts/measure.py).

The PNG is not compared byte for byte: dot's raster output differs between
Graphviz versions. The .dot text is checked exactly, and docs/src/architecture.stamp
records the sha256 of the .dot the PNG was rendered from and of the PNG itself,
so a PNG that is missing, edited or older than its source fails the check.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import jinja2
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "docs/src"
CATALOG = ROOT / "catalog/controls.yml"
MODEL = SRC / "threat_model.yml"
MEASUREMENTS = SRC / "measurements.json"
DOT = ROOT / "docs/architecture.dot"
PNG = ROOT / "docs/architecture_diagram.png"
STAMP = SRC / "architecture.stamp"
TEMPLATES = {
    ROOT / "docs/threat_model.md": "threat_model.md.j2",
    DOT: "architecture.dot.j2",
    ROOT / "docs/summary_report.md": "summary_report.md.j2",
}
STRIDE = (
    "Spoofing",
    "Tampering",
    "Repudiation",
    "Information disclosure",
    "Denial of service",
    "Elevation of privilege",
)
MEASURED_SECTIONS = (
    "bandit",
    "dockerfiles",
    "hostile_input",
    "deployed_http",
    "images",
    "patch_currency",
    "compliance",
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class ModelError(ValueError):
    """docs/src/threat_model.yml names something that does not exist."""


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def id_key(control_id: str) -> tuple:
    """Benchmark order: 1.1.2 < 1.1.10 < 2.1; extras (X.n) last."""
    parts = control_id.split(".")
    return tuple((1, 0) if p == "X" else (0, int(p)) for p in parts)


def cell(text: object) -> str:
    """A Markdown table cell: no pipe or newline breaks the row."""
    return " ".join(str(text).split()).replace("|", "\\|")


def check_model(model: dict, controls: dict[str, dict]) -> None:
    """Every control ID, STRIDE name and code path in the model must exist."""
    errors = []
    items = [(c["id"], t) for c in model["components"] for t in c["threats"]]
    items += [(b["id"], t) for b in model["boundaries"] for t in b["threats"]]
    for where, threat in items:
        if threat["stride"] not in STRIDE:
            errors.append(f"{where}: unknown STRIDE category {threat['stride']!r}")
        if not threat["controls"] and not threat.get("code"):
            errors.append(f"{where}: threat {threat['threat']!r} names no control and no code")
    for where, ids in (
        [(v["id"], v["controls"]) for v in model["vulnerabilities"]]
        + [(c["id"], c["catalog"].get("ids", [])) for c in model["components"]]
        + [(where, t["controls"]) for where, t in items]
    ):
        errors += [f"{where}: control {i} is not in the catalog" for i in ids if i not in controls]
    for where, threat in items:
        missing = [p for p in threat.get("code", []) if not (ROOT / p).exists()]
        errors += [f"{where}: {p} does not exist" for p in missing]
    if errors:
        raise ModelError("docs/src/threat_model.yml:\n  " + "\n  ".join(errors))


def component_controls(component: dict, catalog: list[dict]) -> dict[str, list[dict]]:
    """Catalog controls selected for a component (by role or ID), by STRIDE category."""
    roles = set(component["catalog"].get("roles", []))
    ids = set(component["catalog"].get("ids", []))
    by_stride: dict[str, list[dict]] = {s: [] for s in STRIDE}
    for control in catalog:
        if control["role"] in roles or control["id"] in ids:
            for category in control["stride"]:
                by_stride[category].append(control)
    return {s: cs for s, cs in by_stride.items() if cs}


def attack_table(catalog: list[dict]) -> list[dict]:
    """One row per ATT&CK technique in the catalog, with the controls that carry it."""
    rows: dict[str, dict] = {}
    for control in catalog:
        for technique in control["attack"]:
            row = rows.setdefault(
                technique["id"],
                {"id": technique["id"], "name": technique["name"], "controls": []},
            )
            row["matrix"] = technique.get("matrix", row.get("matrix", "containers"))
            row["controls"].append(control)
    return [rows[k] for k in sorted(rows, key=lambda t: [int(p) for p in t[1:].split(".")])]


def nist_table(catalog: list[dict]) -> list[dict]:
    """NIST 800-53 control -> catalog controls, ordered by family then number."""
    rows: dict[str, list[str]] = defaultdict(list)
    for control in catalog:
        for nist in control["nist_800_53"]:
            rows[nist].append(control["id"])

    def order(nist: str) -> tuple:
        family, _, rest = nist.partition("-")
        numbers = [int(n) for n in re.findall(r"\d+", rest)]
        return (family, *numbers)

    return [{"id": k, "controls": rows[k]} for k in sorted(rows, key=order)]


def union_nist(ids: list[str], controls: dict[str, dict]) -> list[str]:
    seen: list[str] = []
    for control_id in ids:
        seen += [n for n in controls[control_id]["nist_800_53"] if n not in seen]
    return seen


# Role defaults computed from the host's facts are shown as on this host.
DIAGRAM_FACTS = {"processor_vcpus": 2, "architecture": "x86_64"}


def on_diagram_host(defaults: dict[str, Any], role_vars: dict[str, Any]) -> dict[str, Any]:
    """Role defaults with their Jinja expressions evaluated against DIAGRAM_FACTS
    (and the role's vars, which such an expression may read)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - YAML values, not HTML
    return {
        key: env.from_string(value).render(role_vars, ansible_facts=DIAGRAM_FACTS)
        if isinstance(value, str) and "{{" in value and "ansible_facts" in value
        else value
        for key, value in defaults.items()
    }


def topology() -> dict[str, Any]:
    """What roles/docker_app and the host roles deploy, read from their own files."""
    app_vars = load_yaml(ROOT / "roles/docker_app/vars/main.yml")
    app = on_diagram_host(load_yaml(ROOT / "roles/docker_app/defaults/main.yml"), app_vars)
    compose = load_yaml(ROOT / "files/app/compose.yaml")
    baseline = json.loads((ROOT / "roles/docker_daemon/files/daemon_baseline.json").read_text())
    host = load_yaml(ROOT / "roles/docker_host/defaults/main.yml")
    audit = load_yaml(ROOT / "roles/docker_auditd/vars/main.yml")
    daemon = load_yaml(ROOT / "roles/docker_daemon/defaults/main.yml")
    socket_unit: dict[str, str] = {}
    for task in load_yaml(ROOT / "roles/docker_files/tasks/socket.yml"):
        content = task.get("ansible.builtin.copy", {}).get("content", "")
        for line in content.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.startswith("Socket"):
                socket_unit[key] = value
    networks = {
        name: {
            "bridge": net["driver_opts"]["com.docker.network.bridge.name"],
            "internal": bool(net.get("internal")),
        }
        for name, net in compose["networks"].items()
    }
    services = {
        name: {
            "networks": sorted(svc["networks"]),
            "secrets": svc.get("secrets", []),
            "volumes": [
                v["source"] if isinstance(v, dict) else v.split(":")[0]
                for v in svc.get("volumes", [])
            ],
            "healthcheck": " ".join(svc["healthcheck"]["test"][1:]),
        }
        for name, svc in compose["services"].items()
    }
    daemon_keys = {}
    for cis_id, keys in baseline.items():
        if not cis_id.startswith("_"):
            daemon_keys.update({k: (cis_id, v) for k, v in keys.items()})
    return {
        "app": app,
        "web_uid": app_vars["docker_app_web_uid"],
        "diagram_vcpus": DIAGRAM_FACTS["processor_vcpus"],
        "db_uid": app_vars["docker_app_db_uid"],
        "secret_files": app_vars["docker_app_secret_files"],
        "networks": networks,
        "services": services,
        "daemon_keys": daemon_keys,
        "subid": (
            daemon["docker_daemon_userns_subid_start"],
            daemon["docker_daemon_userns_subid_count"],
        ),
        "imds": host["docker_host_imds_addresses"] + host["docker_host_imds_addresses_v6"],
        "audit_ids": [c["id"] for c in audit["docker_auditd_watches"]],
        "audit_file": audit["docker_auditd_rules_file"],
        "socket": socket_unit,
    }


def context() -> dict[str, Any]:
    catalog_doc = load_yaml(CATALOG)
    catalog = catalog_doc["controls"]
    controls = {c["id"]: c for c in catalog}
    model = load_yaml(MODEL)
    check_model(model, controls)
    measured = json.loads(MEASUREMENTS.read_text()) if MEASUREMENTS.exists() else {}
    not_yet = {"skipped": "scripts/measure.py has not measured it"}
    measurements = {k: measured.get(k, not_yet) for k in MEASURED_SECTIONS}
    components = [{**c, "by_stride": component_controls(c, catalog)} for c in model["components"]]
    return {
        "benchmark": catalog_doc["benchmark"],
        "mappings": catalog_doc["mappings"],
        "catalog": catalog,
        "controls": controls,
        "implemented": [c for c in catalog if not c["exception"]],
        "exceptions": [c for c in catalog if c["exception"]],
        "components": components,
        "boundaries": model["boundaries"],
        "vulnerabilities": [
            {**v, "nist": union_nist(v["controls"], controls)} for v in model["vulnerabilities"]
        ],
        "attack": attack_table(catalog),
        "attack_context": model.get("attack_context", {}),
        "nist": nist_table(catalog),
        "stride": STRIDE,
        "topo": topology(),
        "m": measurements,
    }


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(SRC),
        # Markdown and dot, not HTML: nothing is escaped for a browser.
        autoescape=False,  # noqa: S701
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["cell"] = cell
    env.filters["ids"] = lambda cs: ", ".join(c["id"] for c in cs)
    env.filters["dotstr"] = lambda s: str(s).replace("\\", "\\\\").replace('"', '\\"')
    return env


def render_all() -> dict[Path, str]:
    env = environment()
    ctx = context()
    outputs = {path: env.get_template(name).render(ctx) for path, name in TEMPLATES.items()}
    # Optional template sections leave runs of blank lines behind: one is enough.
    return {path: re.sub(r"\n{3,}", "\n\n", text) for path, text in outputs.items()}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def render_png(dot_text: str) -> str:
    """Render the PNG with dot and record the stamp; returns a line for the user."""
    dot = shutil.which("dot")
    if not dot:
        return (
            "dot (Debian package graphviz) is missing: docs/architecture_diagram.png not rendered"
        )
    version = subprocess.run(  # noqa: S603 - our own argv
        [dot, "-V"], capture_output=True, text=True, check=True
    ).stderr.strip()
    png = subprocess.run(  # noqa: S603 - our own argv
        [dot, "-Tpng", "-Gdpi=96"], input=dot_text.encode(), capture_output=True, check=True
    ).stdout
    PNG.write_bytes(png)
    stamp = {
        "dot_sha256": sha256(dot_text.encode()),
        "png_sha256": sha256(png),
        "renderer": version,
    }
    STAMP.write_text(json.dumps(stamp, indent=2) + "\n")
    return f"rendered {PNG.relative_to(ROOT)} ({version})"


def png_problems(dot_text: str, png_path: Path = PNG, stamp_path: Path = STAMP) -> list[str]:
    """Why the PNG is not the rendering of dot_text, according to its stamp (none: it is)."""
    rel = png_path.name
    if not png_path.exists() or not stamp_path.exists():
        return [f"{rel} or {stamp_path.name} is missing"]
    stamp = json.loads(stamp_path.read_text())
    png = png_path.read_bytes()
    problems = []
    if not png.startswith(PNG_MAGIC):
        problems.append(f"{rel} is not a PNG")
    if stamp.get("png_sha256") != sha256(png):
        problems.append(f"{rel} is not the PNG recorded in the stamp (edited by hand?)")
    if stamp.get("dot_sha256") != sha256(dot_text.encode()):
        problems.append(f"{rel} was rendered from another architecture.dot")
    return problems


def check(outputs: dict[Path, str]) -> int:
    stale = 0
    for path, text in outputs.items():
        rel = str(path.relative_to(ROOT))
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            stale += 1
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"{rel} (committed)",
                f"{rel} (generated)",
            )
            sys.stdout.writelines(diff)
    problems = png_problems(outputs[DOT])
    for problem in problems:
        print(problem)
    if stale or problems:
        print("generated docs are stale: run scripts/gen_docs.py (make docs)", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    try:
        outputs = render_all()
    except ModelError as error:
        print(error, file=sys.stderr)
        return 2
    if "--check" in argv:
        return check(outputs)
    for path, text in outputs.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    if png_problems(outputs[DOT]):
        print(render_png(outputs[DOT]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
