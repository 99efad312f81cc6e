"""The closing summary line of ./dockhard test, summed from JUnit reports."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("junit_summary", ROOT / "scripts/junit_summary.py")
junit_summary = importlib.util.module_from_spec(spec)
spec.loader.exec_module(junit_summary)

REPORT = """<?xml version="1.0"?>
<testsuites><testsuite name="pytest">
<testcase name="a"/><testcase name="b"><failure message="x"/></testcase>
<testcase name="c"><skipped/></testcase><testcase name="d"><error/></testcase>
<testcase name="e"/>
</testsuite></testsuites>"""


def test_counts_passed_failed_skipped(tmp_path, capsys):
    report = tmp_path / "junit-x.xml"
    report.write_text(REPORT)
    assert junit_summary.totals([str(report)]) == (2, 2, 1)
    assert junit_summary.main([str(report)]) == 1
    assert capsys.readouterr().out.strip() == "2 passed, 2 failed, 1 skipped"


def test_no_passed_test_is_a_failure(tmp_path):
    report = tmp_path / "junit-empty.xml"
    report.write_text('<testsuites><testsuite name="pytest"/></testsuites>')
    assert junit_summary.main([str(report)]) == 1
