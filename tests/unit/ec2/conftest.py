"""Fixtures of tests/unit/ec2, defined in ec2_emulator.py (a name no other test directory uses)."""

from ec2_emulator import aws_env, ec2, instances, network, provisioned

__all__ = ["aws_env", "ec2", "instances", "network", "provisioned"]
