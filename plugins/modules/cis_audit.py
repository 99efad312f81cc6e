#!/usr/bin/python
# dockhard: read-only checks of CIS Docker Benchmark v1.6.0 controls on a host.
"""Evaluate CIS Docker Benchmark controls on the managed host, read-only.

Each role passes what it expects (its own variables) and the IDs it answers for;
this module reads the real state (files, sockets, the running engine, loaded
audit rules, iptables, containers and images) and returns PASS or FAIL with the
evidence it read. It never changes anything, in check mode or not.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: cis_audit
short_description: Read-only CIS Docker Benchmark checks with evidence
description:
  - Evaluates the controls listed in O(checks) and returns PASS or FAIL and the evidence read.
  - Changes nothing on the host; supports check mode.
options:
  findings:
    description:
      - The findings of this audit so far (the fact C(docker_compliance_findings)). When given,
        the module returns that fact with this call's findings added, so every role's check
        adds to one fact that docker_compliance turns into the report.
    type: dict
  checks:
    description: CIS IDs (docker-bench-security v1.6.0 numbering) or X.n extras to evaluate.
    type: list
    elements: str
    default: []
  docker_path:
    description: Docker's data directory (1.1.1).
    type: str
    default: /var/lib/docker
  docker_group_members:
    description: The only users allowed in the docker group (1.1.2).
    type: list
    elements: str
    default: []
  audit_controls:
    description: Watches per audit control (docker_auditd_watches of roles/docker_auditd).
    type: list
    elements: dict
    default: []
  daemon_fragments:
    description: daemon.json keys each section-2 control needs, by CIS ID (daemon_baseline.json).
    type: dict
    default: {}
  daemon_expected:
    description: The daemon.json the daemon role writes; a control's keys are compared with it.
    type: dict
    default: {}
  file_targets:
    description: Owner, group and mode per daemon file (docker_files_targets of roles/docker_files).
    type: list
    elements: dict
    default: []
  certs_dir:
    description: Registry certificates directory (3.7, 3.8).
    type: str
    default: /etc/docker/certs.d
  content_trust_file:
    description: Login-shell file that enables content trust (4.5; docker_host_content_trust_file).
    type: str
  imds_addresses:
    description: Metadata service addresses containers must not reach (X.1).
    type: list
    elements: str
    default: []
  imds_addresses_v6:
    description: IPv6 metadata addresses, checked where Docker has an IPv6 DOCKER-USER chain (X.1).
    type: list
    elements: str
    default: []
  container_filters:
    description: docker ps filters that select the containers checked (default all running ones).
    type: list
    elements: str
    default: []
  image_filters:
    description: docker image ls filters that select the images checked (default all).
    type: list
    elements: str
    default: []
  sensitive_paths:
    description: Host paths no container may bind mount, nor anything inside them but for "/" (5.6).
    type: list
    elements: str
    default: []
  secrets_dir:
    description: Directory of the app's secret files (X.2; docker_app_secrets_dir).
    type: str
  secret_files:
    description: App secret files (name, mode) and the most permissive mode each may have (X.2).
    type: list
    elements: dict
    default: []
  managed:
    description:
      - What a role's remediation manages beyond its controls' CIS criteria, read so that an
        audit-first converge skips a control's remediation only when nothing it manages differs.
      - Each entry has C(ids) (the controls, or a role's own key such as C(engine)) and one of
        C(path) with C(content) (and optional C(owner), C(group), C(mode)), C(path) with only
        C(owner), C(group) or C(mode) (a directory), C(path) with C(line),
        C(path) with C(absent=true), C(daemon_json) (the whole daemon.json the role writes;
        the values of C(default-ulimits) are capped by the daemon's limit, so only their names
        are compared),
        C(audit_rules) with C(key) and C(watches) (the rules file holds exactly the watches of
        O(audit_controls) entries), C(glob) with C(keep) (no other file may match), C(unit)
        (enabled and active), C(user)
        (exists) or C(packages_any) (one of the package sets is fully installed).
      - The IDs of the entries that differ are returned in RV(drift), with what differs.
    type: list
    elements: dict
    default: []
  converge_marker:
    description:
      - File of the fingerprints that the last complete converge recorded, one line
        C(<role> <fingerprint>) per role (docker_compliance writes it).
        RV(converged_before) is true only when it holds O(fingerprint).
    type: path
    default: /var/lib/dockhard/converged
  fingerprint:
    description: The role's fingerprint (code, catalog entries, inputs) for O(converge_marker).
    type: str
  converge:
    description:
      - For an audit-first converge (docs/reruns.md), the choice of what the role patches, returned
        in RV(converge_ids) and RV(full).
    type: dict
    suboptions:
      controls:
        description:
          - The role's controls (the controls lookup), each with C(id), C(enabled) and
            C(skip_safe).
        type: list
        elements: dict
        required: true
      full:
        description:
          - The operator asks for a full converge (C(dockhard_full_converge)). A role whose
            O(fingerprint) is not in O(converge_marker) converges in full too.
        type: bool
        default: false
      own:
        description: The role's own keys of O(managed) (such as C(engine)), converged on drift.
        type: list
        elements: str
        default: []
author: dockhard contributors (@dockhard)
"""

EXAMPLES = r"""
- name: Check the daemon's section 2 controls and read the daemon files' modes
  dockhard.docker_hardening.cis_audit:
    checks: ["2.2", "2.14", "3.17"]
    daemon_expected: {icc: false, no-new-privileges: true}
    read_paths: [/etc/docker/daemon.json]
  register: audit

- name: Show the failing controls
  ansible.builtin.debug:
    msg: "{{ failing | map(attribute='key') }}"
  vars:
    failing: "{{ audit.findings | dict2items | selectattr('value.status', 'eq', 'FAIL') }}"
"""

RETURN = r"""
ansible_facts:
  description: C(docker_compliance_findings), when O(findings) is given.
  type: dict
  returned: when O(findings) is given
findings:
  description: Per control ID, status PASS or FAIL and a list of evidence lines.
  type: dict
  returned: always
drift:
  description: Per ID of an O(managed) entry that differs from what the role writes, what differs.
  type: dict
  returned: always
converged_before:
  description: Whether O(converge_marker) holds O(fingerprint) (false without a marker).
  type: bool
  returned: always
fingerprint:
  description: O(fingerprint), which docker_compliance records after a full converge.
  type: str
  returned: when O(fingerprint) is given
full:
  description: Whether the role converges in full, O(converge.full) or not RV(converged_before).
  type: bool
  returned: when O(converge) is given
converge_ids:
  description:
    - The IDs whose remediation runs, in catalog order. On a full converge every enabled control
      of O(converge.controls) and every key of O(converge.own); otherwise the enabled controls whose
      finding (this call's, or one O(findings) holds) is not PASS, that are in RV(drift) or that are
      not C(skip_safe), and the keys of O(converge.own) in RV(drift).
  type: list
  elements: str
  returned: when O(converge) is given
"""

import glob
import grp
import json
import os
import pwd
import re
import shutil
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockhard.docker_hardening.plugins.module_utils.converge import (
    converge_ids,
)
from ansible_collections.dockhard.docker_hardening.plugins.module_utils.file_state import (
    describe,
    unit_file,
)
from ansible_collections.dockhard.docker_hardening.plugins.module_utils.findings import add_to_facts

# dockerd's value for a daemon.json key that is absent.
DAEMON_DEFAULTS = {
    "icc": True,
    "log-level": "info",
    "iptables": True,
    "insecure-registries": [],
    "userns-remap": "",
    "no-new-privileges": False,
    "live-restore": False,
    "userland-proxy": True,
    "experimental": False,
    "log-driver": "json-file",
}
ROOT_USER = re.compile(r"^(|0|root)(:.*)?$")
ADD_STEP = re.compile(r"^ADD |#\(nop\) ADD ")


class Host:
    """Reads state from the host, caching what several checks share."""

    def __init__(self, module):
        self.module = module
        self._cache = {}

    def run(self, argv):
        if not shutil.which(argv[0]):
            return 127, "", f"{argv[0]} not installed"
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        except subprocess.TimeoutExpired:
            return 124, "", f"{' '.join(argv)} timed out"
        return proc.returncode, proc.stdout, proc.stderr.strip()

    def cached(self, key, reader):
        if key not in self._cache:
            self._cache[key] = reader()
        return self._cache[key]

    def docker_json(self, argv):
        rc, out, err = self.run(["docker", *argv])
        if rc != 0:
            raise Unreadable(f"docker {' '.join(argv[:2])}: {err or 'failed'}")
        return json.loads(out) if out.strip() else None

    def info(self):
        def read():
            info = self.docker_json(["info", "--format", "{{ json . }}"]) or {}
            # A daemon that does not answer: the client prints its half with ServerErrors.
            if info.get("ServerErrors"):
                raise Unreadable(f"docker info: {'; '.join(info['ServerErrors'])}")
            return info

        return self.cached("info", read)

    def daemon_json(self):
        def read():
            path = "/etc/docker/daemon.json"
            if not os.path.exists(path):
                return {}
            try:
                with open(path, encoding="utf-8") as handle:
                    data = json.load(handle)
            except ValueError as err:
                raise Unreadable(f"{path} is not valid JSON: {err}") from err
            if not isinstance(data, dict):
                raise Unreadable(f"{path} is not a JSON object")
            return data

        return self.cached("daemon_json", read)

    def containers(self, filters):
        def read():
            argv = ["ps", "--quiet", "--no-trunc"] + [f"--filter={f}" for f in filters]
            rc, out, err = self.run(["docker", *argv])
            if rc != 0:
                raise Unreadable(f"docker ps: {err or 'failed'}")
            ids = out.split()
            return self.docker_json(["container", "inspect", *ids]) if ids else []

        return self.cached("containers", read)

    def images(self, filters):
        def read():
            argv = ["image", "ls", "--quiet", "--no-trunc"] + [f"--filter={f}" for f in filters]
            rc, out, err = self.run(["docker", *argv])
            if rc != 0:
                raise Unreadable(f"docker image ls: {err or 'failed'}")
            ids = sorted(set(out.split()))
            return self.docker_json(["image", "inspect", *ids]) if ids else []

        return self.cached("images", read)

    def unit_path(self, unit):
        return self.cached(("unit", unit), lambda: unit_file(unit))

    def audit_rules(self):
        """Watches that persist (rules.d) and, where the kernel answers, the loaded ones."""

        def read():
            persistent = set()
            rules_d = "/etc/audit/rules.d"
            if os.path.isdir(rules_d):
                for name in sorted(os.listdir(rules_d)):
                    if name.endswith(".rules"):
                        with open(os.path.join(rules_d, name), encoding="utf-8") as handle:
                            persistent |= watched_paths(handle.read())
            rc, out, err = self.run(["auditctl", "-l"])
            loaded = watched_paths(out) if rc == 0 else None
            return persistent, loaded, err

        return self.cached("audit", read)


class Unreadable(Exception):
    """State a check needs could not be read: the check fails with this reason."""


def watched_paths(text):
    paths = set()
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "-w":
            paths.add(words[1])
    return paths


def mode_ok(actual, wanted):
    """No permission bit beyond the wanted mode (CIS: 'or more restrictive')."""
    return actual & ~int(str(wanted), 8) == 0


# ---------------------------------------------------------------- section 1
def check_partition(host, params):
    path = params["docker_path"]
    if not os.path.isdir(path):
        return False, [f"{path} does not exist"]
    if not os.path.ismount(path):
        return False, [f"{path} is on the same filesystem as its parent"]
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if fields[4] == path:
                tail = fields[fields.index("-") + 1 :]
                return True, [f"{path} is a mount point: {tail[1]} ({tail[0]})"]
    return True, [f"{path} is a mount point"]


def check_docker_group(host, params):
    try:
        members = sorted(m for m in grp.getgrnam("docker").gr_mem if m)
    except KeyError:
        return True, ["no docker group on the host: nobody has docker access through it"]
    wanted = sorted(params["docker_group_members"])
    evidence = [
        f"docker group members: {', '.join(members) or 'none'}; "
        f"allowed: {', '.join(wanted) or 'none'}"
    ]
    return set(members) <= set(wanted), evidence


def audit_watch_paths(host, control):
    """What the role watches for a control: the paths that exist, the units' files, "always"."""
    wanted = [p for p in control.get("paths", []) if os.path.exists(p)] + list(
        control.get("always", [])
    )
    for unit in control.get("units", []):
        path = host.unit_path(unit)
        if path and os.path.exists(path):
            wanted.append(path)
    return sorted(set(wanted))


def check_audit_watch(control):
    def check(host, params):
        wanted = audit_watch_paths(host, control)
        if not wanted:
            return True, [
                "nothing to watch: none of "
                + ", ".join(control.get("paths", control.get("units", [])))
                + " exists"
            ]
        persistent, loaded, err = host.audit_rules()
        missing = [p for p in wanted if p not in persistent]
        evidence = [
            f"watch in /etc/audit/rules.d: {p}: {'missing' if p in missing else 'yes'}"
            for p in wanted
        ]
        if loaded is None:
            evidence.append(
                f"loaded rules not readable here (auditctl -l: {err or 'failed'}); "
                "rules files checked"
            )
        else:
            not_loaded = [p for p in wanted if p not in loaded]
            evidence.append(
                "loaded (auditctl -l): "
                + (f"missing {', '.join(not_loaded)}" if not_loaded else "all")
            )
            missing += not_loaded
        return not missing, evidence

    return check


# ---------------------------------------------------------------- section 2
def effective(config, key):
    return config.get(key, DAEMON_DEFAULTS.get(key))


def check_daemon_keys(control_id):
    def check(host, params):
        config = host.daemon_json()
        fragment = params["daemon_fragments"].get(control_id, {})
        expected = params["daemon_expected"]
        ok, evidence = True, []
        for key in fragment:
            want = expected.get(key, fragment[key])
            have = effective(config, key)
            if key == "default-ulimits":
                have_names = sorted((have or {}).keys())
                good = all(name in (have or {}) for name in want)
                evidence.append(
                    f"daemon.json default-ulimits: {', '.join(have_names) or 'none'} "
                    f"(want {', '.join(sorted(want))})"
                )
            elif key == "storage-driver":
                # dockhard's criterion (catalog 2.6): the driver the role writes, never aufs.
                driver = host.info().get("Driver", "")
                good = driver == want and driver != "aufs"
                evidence.append(f"running storage driver: {driver} (want {want})")
            else:
                good = have == want
                shown = json.dumps(have) + (
                    "" if key in config else " (not set: dockerd's default)"
                )
                evidence.append(f"daemon.json {key}: {shown} (want {json.dumps(want)})")
            ok = ok and good
        runtime = RUNTIME_CHECKS.get(control_id)
        if runtime and ok:
            good, line = runtime(host.info(), host)
            evidence.append(line)
            ok = good
        return ok, evidence

    return check


def runtime_icc(info, host):
    bridge = host.docker_json(["network", "inspect", "bridge"])[0]
    icc = bridge.get("Options", {}).get("com.docker.network.bridge.enable_icc", "true")
    return icc == "false", f"running default bridge enable_icc: {icc}"


RUNTIME_CHECKS = {
    "2.2": runtime_icc,
    "2.9": lambda info, host: (
        "name=userns" in (info.get("SecurityOptions") or []),
        f"running daemon security options: {', '.join(info.get('SecurityOptions') or [])}",
    ),
    "2.13": lambda info, host: (
        info.get("LoggingDriver") not in ("json-file", "none", ""),
        f"running log driver: {info.get('LoggingDriver')}",
    ),
    "2.15": lambda info, host: (
        bool(info.get("LiveRestoreEnabled")),
        f"running daemon live restore: {info.get('LiveRestoreEnabled')}",
    ),
    "2.18": lambda info, host: (
        not info.get("ExperimentalBuild"),
        f"running daemon experimental: {info.get('ExperimentalBuild')}",
    ),
}


def check_cgroup_parent(host, params):
    value = host.daemon_json().get("cgroup-parent", "")
    return not value, [
        f"daemon.json cgroup-parent: {json.dumps(value) if value else 'not set (default)'}"
    ]


def check_base_device(host, params):
    opts = [o for o in host.daemon_json().get("storage-opts", []) if o.startswith("dm.basesize")]
    return not opts, [
        f"daemon.json storage-opts dm.basesize: {', '.join(opts) or 'not set (default)'}"
    ]


def check_seccomp_profile(host, params):
    value = host.daemon_json().get("seccomp-profile", "")
    options = [o for o in (host.info().get("SecurityOptions") or []) if "seccomp" in o]
    ok = value != "unconfined" and any("profile=" in o and "unconfined" not in o for o in options)
    return ok, [
        f"daemon.json seccomp-profile: {value or 'not set (builtin)'}",
        f"running: {', '.join(options) or 'no seccomp'}",
    ]


def check_swarm(host, params):
    state = (host.info().get("Swarm") or {}).get("LocalNodeState", "")
    return state == "inactive", [f"swarm local node state: {state}"]


# ---------------------------------------------------------------- section 3
def target_path(host, target):
    return target.get("path") or host.unit_path(target["unit"])


def check_file(target, part):
    """3.x: the owner ("owner") or the mode ("mode") of one of the daemon's files."""

    def check(host, params):
        path = target_path(host, target)
        if not path or not os.path.exists(path):
            return True, [f"{path or target.get('unit')}: not present"]
        owner, group, mode = describe(path)
        if part == "owner":
            ok = (owner, group) == (target["owner"], target["group"])
            return ok, [f"{path}: owner {owner}:{group} (want {target['owner']}:{target['group']})"]
        wanted = target["mode"]
        return mode_ok(mode, wanted), [f"{path}: mode {mode:04o} (want {wanted} or stricter)"]

    return check


def cert_files(params):
    root = params["certs_dir"]
    found = []
    for base, _dirs, names in os.walk(root):
        found += [os.path.join(base, name) for name in sorted(names)]
    return root, found


def check_certs(owner_check):
    def check(host, params):
        root, found = cert_files(params)
        if not found:
            return True, [f"no registry certificates under {root}"]
        ok, evidence = True, []
        for path in found:
            owner, group, mode = describe(path)
            good = (owner, group) == ("root", "root") if owner_check else mode_ok(mode, "0444")
            ok = ok and good
            evidence.append(f"{path}: {owner}:{group} {mode:04o}")
        return ok, evidence

    return check


# ---------------------------------------------------------------- section 4
def check_content_trust(host, params):
    path = params["content_trust_file"]
    if not os.path.exists(path):
        return False, [f"{path} does not exist: login shells do not set DOCKER_CONTENT_TRUST=1"]
    with open(path, encoding="utf-8") as handle:
        ok = any(line.strip() == "export DOCKER_CONTENT_TRUST=1" for line in handle)
    return ok, [f"{path} {'exports' if ok else 'does not export'} DOCKER_CONTENT_TRUST=1"]


def name_of(container):
    return container.get("Name", "").lstrip("/") or container.get("Id", "")[:12]


def image_name(image):
    # An image pulled by digest (registry mode) has no tag, only its digest.
    return (image.get("RepoTags") or image.get("RepoDigests") or [image.get("Id", "")[:19]])[0]


def per_item(items, bad, what, empty):
    """PASS when no item is bad; evidence names each offender, or how many passed."""
    if not items:
        return True, [empty]
    offenders = [(name, reason) for name, reason in ((n, bad(x)) for n, x in items) if reason]
    if offenders:
        return False, [f"{name}: {reason}" for name, reason in offenders]
    return True, [f"{len(items)} {what} checked: {', '.join(item[0] for item in items)}"]


def container_check(bad):
    def check(host, params):
        items = [(name_of(c), c) for c in host.containers(params["container_filters"])]
        return per_item(
            items, lambda c: bad(c, host, params), "running containers", "no running containers"
        )

    return check


def image_check(bad):
    def check(host, params):
        items = [(image_name(i), i) for i in host.images(params["image_filters"])]
        return per_item(items, lambda i: bad(i, host), "images", "no images on the host")

    return check


def image_has_add(image, host):
    _rc, out, _err = host.run(
        ["docker", "image", "history", "--no-trunc", "--format", "{{ .CreatedBy }}", image["Id"]]
    )
    steps = [line for line in out.splitlines() if ADD_STEP.search(line)]
    return f"ADD in history: {steps[0][:80]}" if steps else ""


# ---------------------------------------------------------------- section 5
def hc(c):
    return c.get("HostConfig") or {}


def bindings(c):
    return [b for values in (hc(c).get("PortBindings") or {}).values() for b in (values or [])]


def published(c):
    ports = (c.get("NetworkSettings") or {}).get("Ports") or {}
    return sorted(
        f"{p}->{b.get('HostIp')}:{b.get('HostPort')}" for p, v in ports.items() for b in (v or [])
    )


def apparmor(c, host, params):
    if "name=apparmor" not in (host.info().get("SecurityOptions") or []):
        return ""
    return "no AppArmor profile" if c.get("AppArmorProfile") in ("", "unconfined") else ""


def sshd(c, host, params):
    rc, out, _err = host.run(["docker", "top", c["Id"], "-eo", "pid,comm"])
    return "sshd running" if rc == 0 and re.search(r"\bsshd\b", out) else ""


def under_sensitive_path(source, sensitive_paths):
    """A bind source that is a sensitive path or inside one ("/" itself only)."""
    return any(
        source == path or (path != "/" and source.startswith(path.rstrip("/") + "/"))
        for path in sensitive_paths
    )


def sensitive_mounts(c, host, params):
    found = [
        m["Source"]
        for m in c.get("Mounts") or []
        if m.get("Type") == "bind" and under_sensitive_path(m["Source"], params["sensitive_paths"])
    ]
    return f"mounts {', '.join(found)}" if found else ""


def secret_check(host, params):
    evidence, ok = [], True
    paths = [
        (os.path.join(params["secrets_dir"], s["name"]), s["mode"]) for s in params["secret_files"]
    ]
    present = [(path, mode) for path, mode in paths if os.path.exists(path)]
    if not present:
        return True, [f"no app secret files in {params['secrets_dir']}"]
    for path, wanted in present:
        owner, group, mode = describe(path)
        ok = ok and mode_ok(mode, wanted)
        evidence.append(f"{path}: {owner}:{group} {mode:04o} (want {wanted} or stricter)")
    return ok, evidence


CONTAINER_CHECKS = {
    "4.1": lambda c, h, p: (
        f"runs as user {c['Config'].get('User') or 'root (unset)'}"
        if ROOT_USER.match(c["Config"].get("User") or "")
        else ""
    ),
    "5.2": apparmor,
    "5.4": lambda c, h, p: (
        ""
        if "ALL" in (hc(c).get("CapDrop") or []) and not hc(c).get("CapAdd")
        else f"cap_drop {hc(c).get('CapDrop')}, cap_add {hc(c).get('CapAdd')}"
    ),
    "5.5": lambda c, h, p: "privileged" if hc(c).get("Privileged") else "",
    "5.6": sensitive_mounts,
    "5.7": sshd,
    "5.8": lambda c, h, p: ", ".join(
        f"host port {b['HostPort']}"
        for b in bindings(c)
        if b.get("HostPort") and int(b["HostPort"]) < 1024
    ),
    "5.9": lambda c, h, p: (
        f"published {', '.join(published(c))}" if published(c) or bindings(c) else ""
    ),
    "5.10": lambda c, h, p: "host network" if hc(c).get("NetworkMode") == "host" else "",
    "5.11": lambda c, h, p: "" if (hc(c).get("Memory") or 0) > 0 else "no memory limit",
    "5.12": lambda c, h, p: (
        f"cpu shares {hc(c).get('CpuShares') or 0}"
        if (hc(c).get("CpuShares") or 0) in (0, 1024)
        else ""
    ),
    "5.13": lambda c, h, p: "" if hc(c).get("ReadonlyRootfs") else "writable root filesystem",
    "5.14": lambda c, h, p: ", ".join(
        f"port {b.get('HostPort')} on all interfaces"
        for b in bindings(c)
        if b.get("HostIp") in ("", "0.0.0.0", "::")
    ),
    "5.15": lambda c, h, p: (
        ""
        if (hc(c).get("RestartPolicy") or {}).get("Name") == "on-failure"
        and hc(c)["RestartPolicy"].get("MaximumRetryCount") == 5
        else f"restart policy {hc(c).get('RestartPolicy')}"
    ),
    "5.16": lambda c, h, p: "host PID namespace" if hc(c).get("PidMode") == "host" else "",
    "5.17": lambda c, h, p: "host IPC namespace" if hc(c).get("IpcMode") == "host" else "",
    "5.18": lambda c, h, p: "host devices" if hc(c).get("Devices") else "",
    "5.19": lambda c, h, p: "" if hc(c).get("Ulimits") else "no per-container ulimits",
    "5.20": lambda c, h, p: ", ".join(
        f"{m.get('Destination')} propagation {m['Propagation']}"
        for m in c.get("Mounts") or []
        if m.get("Propagation") in ("shared", "rshared")
    ),
    "5.21": lambda c, h, p: "host UTS namespace" if hc(c).get("UTSMode") == "host" else "",
    "5.22": lambda c, h, p: (
        "seccomp unconfined"
        if any(re.search(r"seccomp[:=]unconfined", o) for o in hc(c).get("SecurityOpt") or [])
        else ""
    ),
    "5.25": lambda c, h, p: (
        f"cgroup parent {hc(c)['CgroupParent']}" if hc(c).get("CgroupParent") else ""
    ),
    "5.26": lambda c, h, p: (
        ""
        if any(
            re.match(r"^no-new-privileges(:true|=true)?$", o)
            for o in hc(c).get("SecurityOpt") or []
        )
        else "no-new-privileges not set"
    ),
    "5.27": lambda c, h, p: (
        ""
        if ((c.get("State") or {}).get("Health") or {}).get("Status") == "healthy"
        else f"health {((c.get('State') or {}).get('Health') or {}).get('Status', 'not checked')}"
    ),
    "5.29": lambda c, h, p: "" if (hc(c).get("PidsLimit") or 0) > 0 else "no pids limit",
    "5.30": lambda c, h, p: (
        "on the default bridge"
        if hc(c).get("NetworkMode") in ("default", "bridge")
        or "bridge" in ((c.get("NetworkSettings") or {}).get("Networks") or {})
        else ""
    ),
    "5.31": lambda c, h, p: "host user namespace" if hc(c).get("UsernsMode") == "host" else "",
    "5.32": lambda c, h, p: (
        "docker.sock mounted"
        if any(str(m.get("Source", "")).endswith("docker.sock") for m in c.get("Mounts") or [])
        else ""
    ),
}


def imds_check(host, params):
    rc, out, err = host.run(["iptables", "-w", "-S", "DOCKER-USER"])
    if rc != 0:
        return False, [f"iptables -S DOCKER-USER: {err or 'no such chain'}"]
    wanted = list(params["imds_addresses"])
    # Docker makes the IPv6 chain only with ip6tables on; where it exists it must block too.
    rc6, out6, _err6 = host.run(["ip6tables", "-w", "-S", "DOCKER-USER"])
    if rc6 == 0:
        out += "\n" + out6
        wanted += params["imds_addresses_v6"]
    ok, evidence = True, []
    for address in wanted:
        rules = [
            line
            for line in out.splitlines()
            if f"-d {address}" in line and re.search(r"-j (REJECT|DROP)", line)
        ]
        ok = ok and bool(rules)
        evidence.append(f"DOCKER-USER blocks {address}: {rules[0] if rules else 'no rule'}")
    return ok, evidence


# ------------------------------------------------- managed state (audit-first)
def read_text(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def same_daemon_json(actual, expected):
    if set(actual) != set(expected):
        return False
    for key, want in expected.items():
        have = actual[key]
        if key == "default-ulimits":
            if not isinstance(have, dict) or sorted(have) != sorted(want):
                return False
        elif have != want:
            return False
    return True


def owner_mode_drift(path, entry):
    """Owner, group (by name or id) and mode that differ from the entry's, or None."""
    st = os.stat(path)
    owner, group, mode = describe(path, st)
    have = {"owner": (owner, str(st.st_uid)), "group": (group, str(st.st_gid))}
    bad = [
        f"{key} {have[key][0]} (want {entry[key]})"
        for key in ("owner", "group")
        if entry.get(key) is not None and str(entry[key]) not in have[key]
    ]
    if entry.get("mode") is not None and mode != int(str(entry["mode"]), 8):
        bad.append(f"mode {mode:04o} (want {entry['mode']})")
    return f"{path}: {', '.join(bad)}" if bad else None


def managed_drift(host, entry):
    """What differs from the managed state the entry describes, or None."""
    if "content" in entry:
        path = entry["path"]
        text = read_text(path)
        if text is None:
            return f"{path} is missing"
        if text != entry["content"]:
            return f"{path} differs from what the role writes"
        return owner_mode_drift(path, entry)
    if "line" in entry:
        text = read_text(entry["path"]) or ""
        if entry["line"] not in text.splitlines():
            return f"{entry['path']} lacks the line {entry['line']}"
        return None
    if entry.get("absent"):
        return f"{entry['path']} exists" if os.path.lexists(entry["path"]) else None
    if "daemon_json" in entry:
        # The same cached read as the section 2 checks.
        try:
            same = same_daemon_json(host.daemon_json(), entry["daemon_json"])
        except Unreadable as err:
            return str(err)
        return None if same else "/etc/docker/daemon.json differs from what the role writes"
    if "audit_rules" in entry:
        # The rules file holds exactly the role's watches (templates/docker.rules.j2).
        path = entry["audit_rules"]
        text = read_text(path)
        if text is None:
            return f"{path} is missing"
        want = sorted(
            f"-w {p} -p rwxa -k {entry['key']}"
            for control in entry["watches"]
            for p in audit_watch_paths(host, control)
        )
        have = sorted(
            line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
        )
        if have != want:
            return f"{path} holds other rules than the role writes"
        return owner_mode_drift(path, entry)
    if "glob" in entry:
        extra = sorted(set(glob.glob(entry["glob"])) - set(entry.get("keep", [])))
        return f"not managed by dockhard: {', '.join(extra)}" if extra else None
    if "unit" in entry:
        unit = entry["unit"]
        enabled = host.run(["systemctl", "is-enabled", unit])[1].strip()
        active = host.run(["systemctl", "is-active", unit])[1].strip()
        if enabled != "enabled" or active != "active":
            return f"{unit} is {enabled or 'unknown'} and {active or 'unknown'}"
        return None
    if "user" in entry:
        try:
            pwd.getpwnam(entry["user"])
        except KeyError:
            return f"no user {entry['user']}"
        return None
    if "packages_any" in entry:
        out = host.run(["dpkg-query", "--show", "--showformat", "${Package} ${Status}\\n"])[1]
        installed = {
            line.split()[0] for line in out.splitlines() if line.endswith(" install ok installed")
        }
        if any(set(names) <= installed for names in entry["packages_any"]):
            return None
        return "packages missing: " + " or ".join(
            ", ".join(sorted(set(names) - installed)) for names in entry["packages_any"]
        )
    if "path" in entry and any(entry.get(k) is not None for k in ("owner", "group", "mode")):
        if not os.path.exists(entry["path"]):
            return f"{entry['path']} is missing"
        return owner_mode_drift(entry["path"], entry)
    raise ValueError(f"managed entry of {entry.get('ids')} says nothing to read")


def read_drift(host, managed):
    drift = {}
    for entry in managed:
        what = managed_drift(host, entry)
        if what:
            for control_id in entry["ids"]:
                drift.setdefault(control_id, []).append(what)
    return drift


def converged_before(marker, fingerprint):
    if not marker or not fingerprint:
        return False
    return fingerprint in (read_text(marker) or "").split()


def choose(converge, findings, read):
    """The audit-first choice: full or not, and the IDs whose remediation runs."""
    full = converge["full"] or not read["converged_before"]
    ids = converge_ids(converge["controls"], findings, read["drift"], full, converge["own"])
    return {"full": full, "converge_ids": ids}


def registry(params):
    checks = {
        "1.1.1": check_partition,
        "1.1.2": check_docker_group,
        "2.10": check_cgroup_parent,
        "2.11": check_base_device,
        "2.17": check_seccomp_profile,
        "5.1": check_swarm,
        "3.7": check_certs(owner_check=True),
        "3.8": check_certs(owner_check=False),
        "4.5": check_content_trust,
        "4.6": image_check(
            lambda i, h: "" if (i.get("Config") or {}).get("Healthcheck") else "no HEALTHCHECK"
        ),
        "4.9": image_check(image_has_add),
        "X.1": imds_check,
        "X.2": secret_check,
    }
    for control in params["audit_controls"]:
        checks[control["id"]] = check_audit_watch(control)
    for control_id in params["daemon_fragments"]:
        checks.setdefault(control_id, check_daemon_keys(control_id))
    for target in params["file_targets"]:
        checks[target["own"]] = check_file(target, "owner")
        checks[target["mode_id"]] = check_file(target, "mode")
    for control_id, bad in CONTAINER_CHECKS.items():
        checks[control_id] = container_check(bad)
    return checks


def main():
    module = AnsibleModule(
        argument_spec={
            "findings": {"type": "dict"},
            "checks": {"type": "list", "elements": "str", "default": []},
            "docker_path": {"type": "str", "default": "/var/lib/docker"},
            "docker_group_members": {"type": "list", "elements": "str", "default": []},
            "audit_controls": {"type": "list", "elements": "dict", "default": []},
            "daemon_fragments": {"type": "dict", "default": {}},
            "daemon_expected": {"type": "dict", "default": {}},
            "file_targets": {"type": "list", "elements": "dict", "default": []},
            "certs_dir": {"type": "str", "default": "/etc/docker/certs.d"},
            "content_trust_file": {"type": "str"},
            "imds_addresses": {"type": "list", "elements": "str", "default": []},
            "imds_addresses_v6": {"type": "list", "elements": "str", "default": []},
            "container_filters": {"type": "list", "elements": "str", "default": []},
            "image_filters": {"type": "list", "elements": "str", "default": []},
            "sensitive_paths": {"type": "list", "elements": "str", "default": []},
            "secrets_dir": {"type": "str", "no_log": False},
            "secret_files": {"type": "list", "elements": "dict", "default": [], "no_log": False},
            "managed": {"type": "list", "elements": "dict", "default": []},
            "converge_marker": {"type": "path", "default": "/var/lib/dockhard/converged"},
            "fingerprint": {"type": "str"},
            "converge": {
                "type": "dict",
                "options": {
                    "controls": {"type": "list", "elements": "dict", "required": True},
                    "full": {"type": "bool", "default": False},
                    "own": {"type": "list", "elements": "str", "default": []},
                },
            },
        },
        supports_check_mode=True,
    )
    params = module.params
    checks = registry(params)
    unknown = [c for c in params["checks"] if c not in checks]
    if unknown:
        module.fail_json(msg=f"No check for control(s) {', '.join(unknown)}: pass what they need")
    host = Host(module)
    findings = {}
    for control_id in params["checks"]:
        try:
            ok, evidence = checks[control_id](host, params)
        except Unreadable as err:
            ok, evidence = False, [str(err)]
        findings[control_id] = {"status": "PASS" if ok else "FAIL", "evidence": evidence}
    try:
        drift = read_drift(host, params["managed"])
    except ValueError as err:
        module.fail_json(msg=str(err))
    before = converged_before(params["converge_marker"], params["fingerprint"])
    result = {"findings": findings, "drift": drift, "converged_before": before}
    if params["fingerprint"] is not None:
        # What docker_compliance records after the converge, not computed again.
        result["fingerprint"] = params["fingerprint"]
    if params["converge"]:
        known = {**(params["findings"] or {}), **findings}
        result.update(choose(params["converge"], known, result))
    module.exit_json(changed=False, **result, **add_to_facts(params["findings"], findings))


if __name__ == "__main__":
    main()
