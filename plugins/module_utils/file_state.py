# Copyright: dockhard contributors
# Apache License 2.0 (see LICENSE)
"""Shared by the audit module (checks) and file_facts (remediation reads)."""

from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess


def describe(path, st=None):
    """Owner and group names (ids when unknown) and the permission bits of a path
    (of st, its stat result, when the caller already has it)."""
    st = st or os.stat(path)
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return owner, group, stat.S_IMODE(st.st_mode)


def unit_file(unit):
    """The unit file systemd uses for a unit, or None (no systemd, or no such unit)."""
    argv = ["systemctl", "show", "--property=FragmentPath", "--value", unit]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = proc.stdout.strip()
    return path if proc.returncode == 0 and path else None


def read_files(paths, units):
    """Unit file per unit ("" when none), and owner, group and mode per path and unit file
    (None when absent)."""
    unit_paths = {unit: unit_file(unit) or "" for unit in units}
    found = {}
    for path in [*paths, *(p for p in unit_paths.values() if p)]:
        if os.path.exists(path):
            owner, group, mode = describe(path)
            found[path] = {"owner": owner, "group": group, "mode": f"{mode:04o}"}
        else:
            found[path] = None
    return unit_paths, found
