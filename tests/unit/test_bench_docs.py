"""docs/performance.md and the README's benchmark figures are rendered from a bench record
(scripts/gen_docs.py, scripts/bench_tables.py); here from a small fixture report."""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import bench_tables  # noqa: E402 - a script, imported from its directory
import gen_docs  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "bench_report.json"
PERFORMANCE = ROOT / "docs/performance.md"
README = (
    f"# Title\n\nkept\n\n{gen_docs.README_START} -->\nold figures\n{gen_docs.README_END}\n\ntail\n"
)


@pytest.fixture
def report() -> dict:
    return json.loads(FIXTURE.read_text())


def render(report: dict) -> tuple[str, str]:
    outputs = gen_docs.render_all(report, README)
    return outputs[PERFORMANCE], outputs[gen_docs.README]


def test_performance_page_has_the_reports_tables(report):
    page, _ = render(report)
    for table in bench_tables.tables(report).values():
        assert table in page
    assert "| first converge, 1 app host, fresh | 300.0 s " in page
    assert "CPU 96.0 s busy (40% of 4 cores)" in page
    assert (
        "`make bench` at commit abc1234, started 2026-12-01 08:05 UTC, on a\n4-core, 8 GiB" in page
    )


def test_reruns_in_both_modes_are_a_table_with_their_goals(report):
    page = re.sub(" +", " ", render(report)[0])
    assert "| 1 app host, full converge | 60.0 s | 30.0 s | 70.0 s | changed=0 |" in page
    assert "| 1 app host, audit-first / full (wall time) | 0.30 |" in page
    assert "| fleet of 2, host roles, audit-first | 20.0 s | 16.0 s, 8.0 s per host |" in page
    assert "| <= 0.33 | met |" in page
    report["reruns"]["single"]["ratio_wall_s"] = 0.5
    assert bench_tables.goal_results(report)["audit_first_ratio"] == "missed"


def test_readme_figures_replace_only_the_marked_block(report):
    _, readme = render(report)
    head, _, rest = readme.partition(gen_docs.README_START)
    block, _, tail = rest.partition(gen_docs.README_END)
    assert head == "# Title\n\nkept\n\n"
    assert tail == "\n\ntail\n"
    assert "old figures" not in block
    assert "| fleet of 1 / 2 hosts, host roles, `forks = 10` | 40.0 / 60.0 s | | |" in block
    assert "| 3000 / 1000 r/s = 3.00x; p50 2.0 / 8.0 ms | >= 2x | met |" in block
    assert gen_docs.render_all(report, readme)[gen_docs.README] == readme


def test_readme_without_markers_is_refused(report):
    with pytest.raises(gen_docs.ModelError, match="end bench"):
        gen_docs.render_all(report, "# README without the bench markers\n")


def test_goals_met_need_no_explanation(report):
    page, readme = render(report)
    assert "### Goals missed" not in page
    assert "- a fleet of 2 hosts took 1.50 times a single host (<= 2.5);" in page
    assert "Why goals were missed" not in readme


def test_registry_mode_in_the_full_run_compares_with_the_single_host(report):
    # A full run measures registry mode on its own host: its ratio is to the
    # single host's on-host build, as the figures say, met or missed.
    del report["registry"]["on_host_first_converge_s"]
    report["registry"]["first_converge_s"]["median"] = 100.0
    page, _ = render(report)
    assert "- an app host in registry mode converged in 0.33 of the on-host build's time;" in page
    report["registry"]["first_converge_s"]["median"] = 240.0
    page, readme = render(report)
    assert "- **Registry mode / on-host build: 0.80 against <= 0.5.**" in page
    assert "240 s against 300 s for the on-host build" in page
    assert "(pull by digest) / on-host build | 240.0 s / 300.0 s | <= 0.5 | missed |" in readme


def test_a_missed_goal_is_explained_with_the_reports_numbers(report):
    slow = copy.deepcopy(report)
    slow["fleet"]["ratio_largest_to_1"] = 3.0
    slow["fleet"]["sizes"]["2"]["converge_s"]["median"] = 120.0
    page, readme = render(slow)
    assert "- **Fleet, 2 hosts / 1 host: 3.00 against <= 2.5\n  (1.2 times the goal).**" in page
    assert "a fleet of 2 hosts took" not in page
    assert "**App," not in page
    row = "| fleet 2 hosts / 1 host | 3.00 (40 % of the 4 cores busy) | <= 2.5 | missed |"
    assert row in readme
    # 40 % of the cores: not CPU-bound, so no CPU floor is claimed.
    assert "kept only 40 % of the 4 cores busy" in readme
    assert "The cores were not saturated" in page
    assert "With every core saturated" not in page


def test_a_cpu_bound_fleet_is_explained_by_its_cpu_floor(report):
    bound = copy.deepcopy(report)
    bound["fleet"]["ratio_largest_to_1"] = 3.0
    bound["fleet"]["sizes"]["2"]["cpu_utilisation"] = 0.95
    page, readme = render(bound)
    # 2 hosts x 40 CPU-s / 4 cores / 40 s: no less than 0.5 of one host's converge.
    assert "that floor alone is 0.5 times" in readme
    assert "2 x 40 / 4 / 40 = 0.5 however the play is" in page


def test_figures_are_computed_from_the_medians(report):
    figures = bench_tables.figures(report)
    assert figures["duration"] == "12 min 5 s"
    assert figures["results"] == dict.fromkeys(bench_tables.GOALS, "met")
    bob = figures["app"]["/?name=bob"]
    assert (bob["direct_speedup"], bob["nginx_cost"]) == (4.0, 0.25)
    fleet = figures["fleet"]
    assert fleet["largest_cpu_floor_s"] == 24.0
    assert fleet["ratio_floor"] == 2 * 40 / 4 / 40
    assert fleet["cores_for_goal"] == 2.5 * 4 / 2


def test_the_committed_record_is_a_complete_full_run():
    record = json.loads(gen_docs.BENCH.read_text())
    assert record["profile"]["name"] == "full"
    assert {"started", "commit", "machine", "single_host", "fleet", "app", "images"} <= set(record)
    assert bench_tables.figures(record)["results"]["refuse_ms"] == "met"
