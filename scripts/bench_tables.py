"""The Markdown tables of a benchmark report (scripts/bench.py's JSON).

scripts/bench.py prints them after a run; scripts/gen_docs.py renders them from
docs/src/bench.json, the record of the last full run, into docs/performance.md
and the README. Pure functions of the report: no Docker, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence

# What bench.py measures, and the goals of issue 8 each figure is held against.
ENDPOINTS = ("/?name=bob", "/calculate?expr=2%2B3")
EXHAUSTION_PATH = "/calculate?expr=9**9**9"
# The original evaluates 9**9**9 for real (minutes of CPU): wait this long, no more.
ORIGINAL_EXHAUSTION_TIMEOUT = 2.0
GOALS = {
    "rerun_ratio": 0.5,
    "fleet_ratio": 2.5,
    "app_speedup": 2.0,
    "refuse_ms": 100.0,
    # issue 17: registry mode's first converge under half of the on-host build's.
    "registry_ratio": 0.5,
    # issue 20: an audit-first no-drift rerun of the app host in at most a third of a
    # full converge's wall time; a fleet's controller CPU per host halved.
    "audit_first_ratio": 1 / 3,
    "fleet_cpu_ratio": 0.5,
}
# Share of the machine's cores busy from which a fleet's converge counts as CPU-bound.
CPU_BOUND = 0.9


def cpus(report: dict) -> int | str:
    """Cores of the machine the report was measured on."""
    return (report.get("machine") or {}).get("cpus", "?")


def fmt_stat(summary: dict | None, unit: str = "s", digits: int = 1) -> str:
    """'12.3 s (11.0-13.1)': median with min-max; '-' when not measured."""
    if not summary:
        return "-"
    median, low, high = summary["median"], summary["min"], summary["max"]
    text = f"{median:.{digits}f} {unit}".rstrip()
    if summary["n"] > 1:
        text += f" ({low:.{digits}f}-{high:.{digits}f})"
    return text


def fmt_goal(value: float | None, goal: float, higher_is_better: bool = False) -> str:
    """'met' or 'missed' against a goal; '-' without a value."""
    if value is None:
        return "-"
    met = value >= goal if higher_is_better else value <= goal
    return "met" if met else "missed"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table with padded columns (readable in a terminal and in docs)."""
    widths = [len(h) for h in headers]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells, expected {len(headers)}: {row}")
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join(
        [line(headers), "| " + " | ".join("-" * w for w in widths) + " |"]
        + [line(row) for row in rows]
    )


def _changed(values: Sequence[int]) -> str:
    return f"changed={max(values)}" if values else "changed=?"


def converge_rows(report: dict) -> list[list[str]]:
    rows: list[list[str]] = []
    single = report.get("single_host") or {}
    if single:
        changed = single.get("rerun_changed", [])
        rows += [
            ["first converge, 1 app host, fresh", fmt_stat(single.get("first_converge_s")), "", ""],
            [
                "no-drift rerun",
                f"{fmt_stat(single.get('rerun_s'))}, {_changed(changed)}",
                "changed=0",
                "met" if changed and max(changed) == 0 else "missed",
            ],
            [
                "--check run",
                f"{fmt_stat(single.get('check_s'))}, {_changed(single.get('check_changed', []))}",
                "",
                "",
            ],
            [
                "rerun / first converge",
                _fmt_ratio(single.get("rerun_ratio")),
                f"<= {GOALS['rerun_ratio']}",
                fmt_goal(single.get("rerun_ratio"), GOALS["rerun_ratio"]),
            ],
        ]
    rows += registry_rows(report)
    fleet = report.get("fleet") or {}
    for size, entry in (fleet.get("sizes") or {}).items():
        label = f"fleet of {size}, host roles, forks {fleet.get('forks')}"
        if "skipped" in entry:
            rows.append([label, f"skipped: {entry['skipped']}", "", ""])
            continue
        memory = entry.get("hosts_rss_bytes")
        value = f"{fmt_stat(entry.get('converge_s'))}, hosts' RSS {mib_stat(memory)}"
        if entry.get("cpu_busy_s"):
            value += (
                f", CPU {fmt_stat(entry['cpu_busy_s'])} busy"
                f" ({entry['cpu_utilisation']:.0%} of {cpus(report)} cores)"
            )
        rows.append([label, value, "", ""])
    if fleet:
        value = fleet.get("ratio_largest_to_1")
        rows.append(
            [
                f"fleet {fleet.get('largest')} hosts / 1 host",
                _fmt_ratio(value),
                f"<= {GOALS['fleet_ratio']}",
                fmt_goal(value, GOALS["fleet_ratio"]),
            ]
        )
    return rows


def registry_share(report: dict) -> float | None:
    """Registry mode's first converge over the on-host build's: the on-host figure measured
    with it (same load) when the registry entry has one, else the single host's."""
    registry = report.get("registry") or {}
    first = (registry.get("first_converge_s") or {}).get("median")
    on_host = (
        registry.get("on_host_first_converge_s")
        or (report.get("single_host") or {}).get("first_converge_s")
        or report.get("on_host_first_converge_s")
        or {}
    ).get("median")
    return first / on_host if first and on_host else None


def registry_rows(report: dict) -> list[list[str]]:
    """Registry mode's first converge, and its ratio to the on-host build's."""
    registry = report.get("registry") or {}
    if not registry:
        return []
    value = (
        f"{fmt_stat(registry.get('first_converge_s'))}, "
        f"{_changed(registry.get('rerun_changed', []))} on rerun"
        f" (build and push once: {registry.get('build_s')} s)"
    )
    share = registry_share(report)
    return [
        ["first converge, registry mode", value, "", ""],
        [
            "registry mode / on-host build",
            _fmt_ratio(share),
            f"<= {GOALS['registry_ratio']}",
            fmt_goal(share, GOALS["registry_ratio"]),
        ],
    ]


RERUN_LABELS = {"full": "full converge", "audit_first": "audit-first"}


def rerun_rows(report: dict) -> list[list[str]]:
    """No-drift reruns in both modes (issue 20): the app host, then the largest fleet."""
    reruns = report.get("reruns") or {}
    rows: list[list[str]] = []
    for part, ratio_key, goal in (
        ("single", "ratio_wall_s", "audit_first_ratio"),
        ("fleet", "ratio_cpu_per_host_s", "fleet_cpu_ratio"),
    ):
        entry = reruns.get(part)
        if not entry:
            continue
        hosts = entry["hosts"]
        where = "1 app host" if part == "single" else f"fleet of {hosts}, host roles"
        for mode, label in RERUN_LABELS.items():
            figures = entry[mode]
            cpu = fmt_stat(figures["cpu_s"])
            if hosts > 1:
                cpu += f", {fmt_stat(figures['cpu_per_host_s'])} per host"
            rows.append(
                [
                    f"{where}, {label}",
                    fmt_stat(figures["wall_s"]),
                    cpu,
                    fmt_stat(figures["busy_s"]),
                    _changed(figures["changed"]),
                    "changed=0" if mode == "audit_first" else "",
                    ("met" if max(figures["changed"]) == 0 else "missed")
                    if mode == "audit_first"
                    else "",
                ]
            )
        what = "wall time" if part == "single" else "controller CPU per host"
        rows.append(
            [
                f"{where}, audit-first / full ({what})",
                _fmt_ratio(entry.get(ratio_key)),
                "",
                "",
                "",
                f"<= {GOALS[goal]:.2f}",
                fmt_goal(entry.get(ratio_key), GOALS[goal]),
            ]
        )
    return rows


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def mib_stat(summary: dict | None) -> str:
    if not summary:
        return "-"
    return f"{summary['median'] / 1024**2:.0f} MiB"


def app_rows(report: dict) -> list[list[str]]:
    app = report.get("app") or {}
    rows: list[list[str]] = []
    for path, entry in (app.get("endpoints") or {}).items():
        for target in STACK_LABELS:
            if target not in entry:
                continue
            stats = entry[target]
            rows.append(
                [
                    path,
                    STACK_LABELS[target].format(cpus=app.get("web_cpus", "?")),
                    fmt_stat(stats["ok_rps"], ""),
                    fmt_stat(stats["p50_ms"], "", 2),
                    fmt_stat(stats["p99_ms"], "", 2),
                    "",
                    "",
                ]
            )
        speedup = entry.get("speedup")
        goal = path == ENDPOINTS[0]
        rows.append(
            [
                path,
                "hardened / original",
                "-" if speedup is None else f"{speedup:.2f}x",
                "",
                "",
                f">= {GOALS['app_speedup']:g}x" if goal else "",
                fmt_goal(speedup, GOALS["app_speedup"], higher_is_better=True) if goal else "",
            ]
        )
    deployed = app.get("as_deployed")
    if deployed:
        statuses = ", ".join(f"{k}: {v}" for k, v in deployed["statuses"].items())
        rows.append(
            [
                ENDPOINTS[0],
                f"hardened, proxy limits as deployed ({statuses})",
                f"{deployed['ok_rps']:.1f}",
                _fmt_ms(deployed["p50_ms"]),
                _fmt_ms(deployed["p99_ms"]),
                "",
                "",
            ]
        )
    if app.get("refuse_ms"):
        statuses = sorted({s for run in app.get("refuse_statuses", []) for s in run})
        rows.append(
            [
                EXHAUSTION_PATH,
                f"hardened, time to refuse (status {', '.join(statuses)})",
                "",
                fmt_stat(app["refuse_ms"], "", 2),
                "",
                f"< {GOALS['refuse_ms']:g} ms",
                fmt_goal(app["refuse_ms"]["median"], GOALS["refuse_ms"]),
            ]
        )
    throttled = app.get("web_cpu_throttling")
    if throttled and throttled.get("throttled_fraction") is not None:
        rows.append(
            [
                "(load runs)",
                f"hardened web container hit its CPU quota in "
                f"{throttled['throttled_fraction']:.0%} of CFS periods "
                f"({throttled['throttled_s']:.1f} s throttled)",
                "",
                "",
                "",
                "",
                "",
            ]
        )
    original = app.get("original_exhaustion")
    if original:
        if original["answered"]:
            what = f"answered {original['statuses']} in {_fmt_ms(original['max_ms'])} ms"
        else:
            what = f"no answer within {ORIGINAL_EXHAUSTION_TIMEOUT:g} s ({original['errors']})"
        rows.append([EXHAUSTION_PATH, f"original: {what}", "", "", "", "", ""])
    return rows


def _fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def image_rows(report: dict) -> list[list[str]]:
    images = report.get("images") or {}
    rows = []
    for key in ("hardened", "naive"):
        if key in images:
            size = images[key]["bytes"]
            rows.append([IMAGE_LABELS[key], images[key]["image"], f"{size / 1000**2:.1f} MB"])
    if "naive_to_hardened" in images:
        rows.append(["naive / hardened", "", f"{images['naive_to_hardened']:.2f}x"])
    return rows


def tables(report: dict) -> dict[str, str]:
    """Each table (and list of changed tasks) of the report as Markdown; '' when not measured."""
    single = report.get("single_host") or {}
    parts = {
        "converge": _table(
            ["converge", "median (min-max)", "goal", "result"], converge_rows(report)
        ),
        "app": _table(
            ["endpoint", "stack", "2xx r/s", "p50 ms", "p99 ms", "goal", "result"], app_rows(report)
        ),
        "images": _table(["image", "name", "size"], image_rows(report)),
        "reruns": _table(
            [
                "no-drift rerun",
                "wall s",
                "controller CPU s",
                "machine busy CPU s",
                "changed",
                "goal",
                "result",
            ],
            rerun_rows(report),
        ),
    }
    for kind in ("rerun", "check"):
        names = sorted({t for run in single.get(f"{kind}_changed_tasks", []) for t in run})
        parts[f"{kind}_changed"] = (
            f"Tasks that reported changed in the {kind} runs:\n"
            + "\n".join(f"- {name}" for name in names)
            if names
            else ""
        )
    rows = [
        [t["task"], f"{t['median_s']:.2f}", f"{t['max_s']:.2f}"]
        for t in single.get("rerun_slowest_tasks") or []
    ]
    parts["slowest"] = _table(["slowest tasks of the rerun", "median s", "max s"], rows)
    return parts


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return format_table(headers, rows) if rows else ""


def render(report: dict) -> str:
    """The whole report as Markdown (what bench.py prints; gen_docs.py places the parts)."""
    return "\n\n".join(part for part in tables(report).values() if part)


STACK_LABELS = {
    "hardened": "hardened: nginx, gunicorn ({cpus} CPU), audit rows in Postgres",
    "original": "original: Flask dev server",
    "gunicorn": "hardened, gunicorn direct (no nginx)",
}
IMAGE_LABELS = {
    "hardened": "hardened web image (multi-stage)",
    "naive": "naive single-stage build, same base",
}


# --- figures quoted in the docs' prose ----------------------------------------


def goal_results(report: dict) -> dict[str, str]:
    """'met', 'missed' or '-' per goal of GOALS, as the tables show them."""
    single = report.get("single_host") or {}
    fleet = report.get("fleet") or {}
    app = report.get("app") or {}
    endpoints = app.get("endpoints") or {}
    speedup = (endpoints.get(ENDPOINTS[0]) or {}).get("speedup")
    refuse = (app.get("refuse_ms") or {}).get("median")
    return {
        "rerun_ratio": fmt_goal(single.get("rerun_ratio"), GOALS["rerun_ratio"]),
        "fleet_ratio": fmt_goal(fleet.get("ratio_largest_to_1"), GOALS["fleet_ratio"]),
        "app_speedup": fmt_goal(speedup, GOALS["app_speedup"], higher_is_better=True),
        "refuse_ms": fmt_goal(refuse, GOALS["refuse_ms"]),
        "registry_ratio": fmt_goal(registry_share(report), GOALS["registry_ratio"]),
        "audit_first_ratio": fmt_goal(
            ((report.get("reruns") or {}).get("single") or {}).get("ratio_wall_s"),
            GOALS["audit_first_ratio"],
        ),
        "fleet_cpu_ratio": fmt_goal(
            ((report.get("reruns") or {}).get("fleet") or {}).get("ratio_cpu_per_host_s"),
            GOALS["fleet_cpu_ratio"],
        ),
    }


def fleet_figures(report: dict) -> dict:
    """Per fleet size: wall and CPU seconds, share of the cores busy; the CPU-bound floor
    of the largest/1 ratio (every core busy: wall time >= CPU time / cores)."""
    fleet = report["fleet"]
    cores = report["machine"]["cpus"]
    sizes = {
        int(size): {
            "converge_s": entry["converge_s"]["median"],
            "cpu_busy_s": entry["cpu_busy_s"]["median"],
            "utilisation": entry["cpu_utilisation"],
        }
        for size, entry in fleet["sizes"].items()
        if "skipped" not in entry
    }
    one, largest = sizes[1], sizes[fleet["largest"]]
    return {
        "sizes": sizes,
        "largest": fleet["largest"],
        "ratio": fleet["ratio_largest_to_1"],
        "largest_cpu_floor_s": largest["cpu_busy_s"] / cores,
        "ratio_floor": fleet["largest"] * one["cpu_busy_s"] / cores / one["converge_s"],
        # Cores one host's converge may keep busy for the goal to be reachable at all.
        "cores_for_goal": GOALS["fleet_ratio"] * cores / fleet["largest"],
        "cores_now": one["cpu_busy_s"] / one["converge_s"],
        # The largest fleet kept (nearly) every core busy: more parallelism cannot help.
        "cpu_bound": largest["utilisation"] >= CPU_BOUND,
    }


def app_figures(report: dict) -> dict:
    """Per endpoint: medians of each stack, the speedups and what the hop through nginx costs."""
    figures = {}
    for path, entry in report["app"]["endpoints"].items():
        rps = {stack: entry[stack]["ok_rps"]["median"] for stack in STACK_LABELS}
        p50 = {stack: entry[stack]["p50_ms"]["median"] for stack in STACK_LABELS}
        figures[path] = {
            "rps": rps,
            "p50": p50,
            "speedup": entry["speedup"],
            "direct_speedup": rps["gunicorn"] / rps["original"],
            "nginx_cost": 1 - rps["hardened"] / rps["gunicorn"],
        }
    return figures


def figures(report: dict) -> dict:
    """The numbers the prose of docs/performance.md and the README quotes, from a complete
    full run (the record bench.py keeps): each computed here, once."""
    machine = report["machine"]
    single = report["single_host"]
    app = report["app"]
    minutes, seconds = divmod(round(report["duration_s"]), 60)
    return {
        "date": report["started"][:10],
        "time": report["started"][11:16],
        "duration": f"{minutes} min {seconds} s",
        "memory_gib": machine["memory_total_bytes"] / 1024**3,
        "load_before": machine["load_average_before"][0],
        "load_after": machine["load_average_after"][0],
        "results": goal_results(report),
        "registry_share": registry_share(report),
        "first_s": single["first_converge_s"]["median"],
        "rerun_s": single["rerun_s"]["median"],
        "rerun_changed": max(single["rerun_changed"]),
        "check_changed": max(single["check_changed"]),
        "fleet": fleet_figures(report),
        "app": app_figures(report),
        "refuse_statuses": sorted({s for run in app["refuse_statuses"] for s in run}),
        "original_answered": bool(app["original_exhaustion"]["answered"]),
    }
