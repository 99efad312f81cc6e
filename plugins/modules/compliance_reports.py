#!/usr/bin/python
# Copyright: dockhard contributors
# Apache License 2.0 (see LICENSE)
"""Documentation of the compliance_reports action (plugins/action/compliance_reports.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: compliance_reports
short_description: Write a host's CIS compliance reports on the controller
description:
  - Writes the report of P(dockhard.docker_hardening.compliance_report#filter) for one
    host on the controller, in the controller's worker (an action plugin), so no module
    runs, on the host or on the controller.
  - Phase V(before) writes C(<base>.before.json). Phase V(after) writes C(<base>.json),
    C(<base>.md) (with the status of each control in C(<base>.before.json), when that
    file exists) and C(<base>.xml) (JUnit), and returns the host's summary and failing
    controls as a job artifact (set_stats, aggregated over the hosts, in the recap's
    CUSTOM STATS and in AWX's job artifacts).
  - Each file is replaced atomically, mode 0644; the directory is created (0755) when
    missing.
  - The reports are output, not a change to the host, so the task never reports
    changed, and it writes them in check mode too.
options:
  report:
    description: The host's compliance report.
    type: dict
    required: true
  phase:
    description: Which reports to write.
    type: str
    choices: [before, after]
    default: after
  base:
    description: The path of the reports without their suffix, on the controller.
    type: path
    required: true
notes:
  - Runs entirely on the controller; the host is not contacted.
version_added: 0.4.0
author: dockhard contributors (@dockhard)
"""

EXAMPLES = r"""
- name: Write the reports to the controller
  dockhard.docker_hardening.compliance_reports:
    report: "{{ docker_compliance_report }}"
    phase: after
    base: "reports/compliance/{{ inventory_hostname }}"
"""

RETURN = r"""
paths:
  description: The files written.
  type: list
  elements: str
  returned: always
  sample: [reports/compliance/web1.json, reports/compliance/web1.md, reports/compliance/web1.xml]
"""
