# dockhard: how the engine of a host logs in to the registry of the app images.
"""Filters for the registry mode of docker_app (docs/registry.md).

- registry_is_ecr: whether a registry (host[:port]) is an Amazon ECR registry.
- registry_docker_config: root's ~/.docker/config.json for a registry whose
  credentials come from a credential helper (ECR: amazon-ecr-credential-helper
  with the instance profile), or None when the registry takes a docker login.
"""

from __future__ import annotations

import re

# <account>.dkr.ecr.<region>.amazonaws.com (and .amazonaws.com.cn in China).
ECR_REGISTRY = re.compile(r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")


def registry_is_ecr(registry: str) -> bool:
    """True for an ECR registry host name (no port, no path)."""
    return bool(ECR_REGISTRY.match(registry or ""))


def registry_docker_config(registry: str) -> dict | None:
    """The docker CLI configuration that sends the registry's logins to its helper."""
    if registry_is_ecr(registry):
        return {"credHelpers": {registry: "ecr-login"}}
    return None


class FilterModule:
    def filters(self):
        return {
            "registry_is_ecr": registry_is_ecr,
            "registry_docker_config": registry_docker_config,
        }
