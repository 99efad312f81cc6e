#!/usr/bin/python
# Copyright: dockhard contributors
# Apache License 2.0 (see LICENSE)
"""Owner, group and mode of many paths and unit files in one module run, read-only.

Remediation reads everything it manages once and then changes only what
differs: a stat per path costs a module run each, the slowest part of a rerun.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: file_facts
short_description: Owner, group and mode of many paths and unit files, in one call
description:
  - Returns the owner, group and mode of O(paths), and the unit file systemd uses for each
    of O(units) with its owner, group and mode, so a role can change only what differs.
  - Changes nothing; supports check mode.
options:
  paths:
    description: Paths to read; an absent path is returned as null.
    type: list
    elements: str
    default: []
  units:
    description: systemd units whose unit file to find and read.
    type: list
    elements: str
    default: []
version_added: 0.3.0
author: dockhard contributors (@dockhard)
"""

EXAMPLES = r"""
- name: Read the daemon's files once
  dockhard.docker_hardening.file_facts:
    paths: [/etc/docker, /etc/docker/daemon.json]
    units: [docker.service, docker.socket]
  register: found
"""

RETURN = r"""
paths:
  description: Per path and unit file, owner, group and mode ("0644"); null if absent.
  type: dict
  returned: always
  sample:
    /etc/docker: {owner: root, group: root, mode: "0755"}
    /etc/default/docker: null
units:
  description: Per unit, the unit file systemd uses, or "" when there is none.
  type: dict
  returned: always
  sample:
    docker.service: /usr/lib/systemd/system/docker.service
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockhard.docker_hardening.plugins.module_utils.file_state import (
    read_files,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "paths": {"type": "list", "elements": "str", "default": []},
            "units": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    units, paths = read_files(module.params["paths"], module.params["units"])
    module.exit_json(changed=False, paths=paths, units=units)


if __name__ == "__main__":
    main()
