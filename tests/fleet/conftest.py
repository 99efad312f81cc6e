"""Fixtures of tests/fleet, defined in fleet_run.py (a name no other test directory uses)."""

from fleet_run import fleet, inventory, rolling

__all__ = ["fleet", "inventory", "rolling"]
