"""Checks of the control catalog (catalog/controls.yml).

The catalog is the single list of controls that tasks, tests, reports and docs
read. These tests keep it valid against catalog/schema.json and keep its
naming conventions (toggle, tag, test name) derivable from the control ID.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

REPO = Path(__file__).resolve().parents[2]
CATALOG_PATH = REPO / "catalog" / "controls.yml"
SCHEMA_PATH = REPO / "catalog" / "schema.json"
README_PATH = REPO / "catalog" / "README.md"
TEST_SEARCH_ROOTS = (REPO / "molecule", REPO / "tests")
ROLES_DIR = REPO / "roles"

# docker-bench-security v1.6.0 check counts per section (sections 1-5).
SECTION_SIZES = {1: 20, 2: 18, 3: 24, 4: 12, 5: 32}

# The original exercise's numbering (its findings table): new ID -> old ID.
OLD_IDS = {
    "1.1.3": "1.5",
    "2.2": "2.1",
    "2.9": "2.8",
    "2.14": "2.18",
    "2.15": "2.14",
    "2.16": "2.15",
    "5.3": "5.2",
    "5.11": "5.10",
    "5.12": "5.11",
    "5.13": "5.12",
    "5.14": "5.13",
    "5.15": "5.14",
}

# Techniques of the ATT&CK Enterprise Containers platform (v16) with their
# names. Check attack.mitre.org before adding one here.
ATTACK_CONTAINERS = {
    "T1036": "Masquerading",
    "T1036.005": "Masquerading: Match Legitimate Name or Location",
    "T1046": "Network Service Discovery",
    "T1053.007": "Scheduled Task/Job: Container Orchestration Job",
    "T1068": "Exploitation for Privilege Escalation",
    "T1069": "Permission Groups Discovery",
    "T1070": "Indicator Removal",
    "T1078": "Valid Accounts",
    "T1078.001": "Valid Accounts: Default Accounts",
    "T1078.003": "Valid Accounts: Local Accounts",
    "T1098": "Account Manipulation",
    "T1098.006": "Account Manipulation: Additional Container Cluster Roles",
    "T1110": "Brute Force",
    "T1110.001": "Brute Force: Password Guessing",
    "T1110.003": "Brute Force: Password Spraying",
    "T1110.004": "Brute Force: Credential Stuffing",
    "T1133": "External Remote Services",
    "T1136": "Create Account",
    "T1136.001": "Create Account: Local Account",
    "T1190": "Exploit Public-Facing Application",
    "T1204.003": "User Execution: Malicious Image",
    "T1496": "Resource Hijacking",
    "T1498": "Network Denial of Service",
    "T1499": "Endpoint Denial of Service",
    "T1525": "Implant Internal Image",
    "T1528": "Steal Application Access Token",
    "T1550": "Use Alternate Authentication Material",
    "T1550.001": "Use Alternate Authentication Material: Application Access Token",
    "T1552": "Unsecured Credentials",
    "T1552.001": "Unsecured Credentials: Credentials In Files",
    "T1552.007": "Unsecured Credentials: Container API",
    "T1562": "Impair Defenses",
    "T1562.001": "Impair Defenses: Disable or Modify Tools",
    "T1609": "Container Administration Command",
    "T1610": "Deploy Container",
    "T1611": "Escape to Host",
    "T1612": "Build Image on Host",
    "T1613": "Container and Resource Discovery",
}
# Cloud techniques allowed only for the EC2 extras (section "x").
ATTACK_IAAS = {
    "T1552.005": "Unsecured Credentials: Cloud Instance Metadata API",
}

NIST_RE = re.compile(r"^[A-Z]{2}-\d+(\(\d+\))?$")
ATTACK_RE = re.compile(r"^T\d{4}(\.\d{3})?$")
EXTRA_ID_RE = re.compile(r"^X\.(\d+)$")
CIS_ID_RE = re.compile(r"^[1-5](\.\d+){1,2}$")


# ----------------------------------------------------------------- helpers


def load_catalog(path: Path = CATALOG_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def is_extra(control_id: str) -> bool:
    return EXTRA_ID_RE.match(control_id) is not None


def id_key(control_id: str) -> tuple[int, ...]:
    """Sort key: CIS IDs in numeric order, then the extras X.1, X.2, ..."""
    extra = EXTRA_ID_RE.match(control_id)
    if extra:
        return (99, int(extra.group(1)))
    return tuple(int(part) for part in control_id.split("."))


def id_slug(control_id: str) -> str:
    """'2.15' -> 'cis_2_15', 'X.1' -> 'x_1'."""
    extra = EXTRA_ID_RE.match(control_id)
    if extra:
        return f"x_{extra.group(1)}"
    return "cis_" + control_id.replace(".", "_")


def expected_toggle(control: dict[str, Any]) -> str | None:
    """The role's variable that switches the control: '<role>_cis_2_15'; none for an exception."""
    if control["role"] is None:
        return None
    return f"{control['role']}_{id_slug(control['id'])}"


def expected_tag(control_id: str) -> str:
    extra = EXTRA_ID_RE.match(control_id)
    if extra:
        return f"rule_x.{extra.group(1)}"
    return f"rule_{control_id}"


def expected_test_prefix(control_id: str) -> str:
    return f"test_{id_slug(control_id)}_"


def is_exception(control: Mapping[str, Any]) -> bool:
    return control.get("exception") is not None


def defined_functions(search_roots: Iterable[Path]) -> set[str]:
    """Names of all functions defined in *.py files under the given directories."""
    names: set[str] = set()
    for root in search_roots:
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            names.update(
                node.name
                for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return names


def missing_tests(catalog: Mapping[str, Any], search_roots: Iterable[Path]) -> list[str]:
    """Controls whose `test` names a function that no test file defines."""
    defined = defined_functions(search_roots)
    return [
        f"{control['id']}: {control['test']}"
        for control in catalog["controls"]
        if control.get("test") and control["test"] not in defined
    ]


class _TaskLoader(yaml.SafeLoader):
    """SafeLoader that reads Ansible-only tags (!vault, !unsafe, ...) as plain data."""


def _construct_unknown(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_TaskLoader.add_multi_constructor("!", _construct_unknown)


def _tags_in(node: Any) -> Iterator[str]:
    """Every tag named by a `tags:` key anywhere in a parsed task file."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "tags":
                if isinstance(value, str):
                    yield from (part.strip() for part in value.split(","))
                elif isinstance(value, list):
                    yield from (str(item) for item in value)
            else:
                yield from _tags_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from _tags_in(item)


def role_task_tags(role_dir: Path) -> set[str]:
    """Tags used in a role's tasks/ tree (blocks, imports and includes included)."""
    tags: set[str] = set()
    tasks_dir = role_dir / "tasks"
    if not tasks_dir.is_dir():
        return tags
    for path in sorted(tasks_dir.rglob("*")):
        if path.suffix not in {".yml", ".yaml"}:
            continue
        with path.open(encoding="utf-8") as handle:
            loader = _TaskLoader(handle)
            try:
                tags.update(_tags_in(loader.get_single_data()))
            finally:
                loader.dispose()
    return tags


def missing_remediation_tags(catalog: Mapping[str, Any], roles_dir: Path) -> list[str]:
    """Implemented controls whose role has no task tagged with the control's tag."""
    cache: dict[str, set[str]] = {}
    missing = []
    for control in catalog["controls"]:
        role = control.get("role")
        if not role:
            continue
        if role not in cache:
            cache[role] = role_task_tags(roles_dir / role)
        # `tags: "{{ <role>_tags + [...] }}"` carries all of the role's catalog tags.
        role_wide = any(f"{role}_tags" in tag for tag in cache[role])
        if control["tag"] not in cache[role] and not role_wide:
            missing.append(f"{control['id']}: {control['tag']} in roles/{role}/tasks")
    return missing


# ----------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def catalog() -> dict[str, Any]:
    return load_catalog()


@pytest.fixture(scope="module")
def controls(catalog: dict[str, Any]) -> list[dict[str, Any]]:
    return catalog["controls"]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


# ----------------------------------------------------------------- schema


def test_schema_is_a_valid_draft_2020_12_schema(schema: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(schema)


def test_catalog_matches_schema(catalog: dict[str, Any], schema: dict[str, Any]) -> None:
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(catalog), key=lambda err: list(err.absolute_path))
    report = "\n".join(f"{list(err.absolute_path)}: {err.message}" for err in errors)
    assert not errors, report


def test_benchmark_header(catalog: dict[str, Any]) -> None:
    assert catalog["benchmark"]["name"] == "CIS Docker Benchmark"
    assert catalog["benchmark"]["version"] == "1.6.0"
    assert catalog["benchmark"]["numbering"] == "docker-bench-security"


# ----------------------------------------------------------------- IDs


def test_ids_are_unique(controls: list[dict[str, Any]]) -> None:
    counts = Counter(control["id"] for control in controls)
    assert [cid for cid, n in counts.items() if n > 1] == []


def test_ids_are_in_cis_order(controls: list[dict[str, Any]]) -> None:
    keys = [id_key(control["id"]) for control in controls]
    assert keys == sorted(keys)


def test_section_matches_id(controls: list[dict[str, Any]]) -> None:
    for control in controls:
        cid = control["id"]
        if is_extra(cid):
            assert control["section"] == "x", cid
        else:
            assert CIS_ID_RE.match(cid), cid
            assert control["section"] == int(cid.split(".")[0]), cid


def test_every_cis_section_is_complete(controls: list[dict[str, Any]]) -> None:
    sizes = Counter(control["section"] for control in controls if control["section"] != "x")
    assert dict(sizes) == SECTION_SIZES


def test_numbering_has_no_gaps(controls: list[dict[str, Any]]) -> None:
    groups: dict[str, list[int]] = defaultdict(list)
    for control in controls:
        prefix, _, last = control["id"].rpartition(".")
        groups[prefix].append(int(last))
    for prefix, numbers in groups.items():
        assert numbers == list(range(1, len(numbers) + 1)), prefix


def test_old_ids_are_the_original_exercises(controls: list[dict[str, Any]]) -> None:
    old = {control["id"]: control["old_id"] for control in controls if "old_id" in control}
    assert old == OLD_IDS


def test_key_controls_are_where_the_scanner_puts_them(controls: list[dict[str, Any]]) -> None:
    by_id = {control["id"]: control for control in controls}
    assert "swarm" in by_id["5.1"]["title"].lower()
    assert "socket" in by_id["5.32"]["title"].lower()
    assert "docker0" in by_id["5.30"]["title"]
    assert "authorization" in by_id["2.12"]["title"].lower()
    assert by_id["1.1.1"]["role"] == "docker_storage"
    assert by_id["4.5"]["role"] == "docker_host"
    assert by_id["X.1"]["role"] == "docker_host"
    assert by_id["X.1"]["test"] == "test_x_1_imds_blocked"
    assert "T1552.005" in {tech["id"] for tech in by_id["X.1"]["attack"]}


# ----------------------------------------------------------------- conventions


def test_every_control_is_remediated_or_excepted(controls: list[dict[str, Any]]) -> None:
    for control in controls:
        cid = control["id"]
        if is_exception(control):
            assert isinstance(control["exception"], str), cid
            assert len(control["exception"].strip()) >= 20, cid
            assert control["role"] is None, f"{cid}: an exception has no remediating role"
        else:
            assert control["role"], cid
            assert control["tag"], cid
            assert control["test"], cid


def test_toggle_and_tag_follow_the_id(controls: list[dict[str, Any]]) -> None:
    for control in controls:
        cid = control["id"]
        assert control["toggle"] == expected_toggle(control), cid
        assert control["tag"] == expected_tag(cid), cid


def test_test_names_follow_the_id(controls: list[dict[str, Any]]) -> None:
    for control in controls:
        if control["test"] is not None:
            assert control["test"].startswith(expected_test_prefix(control["id"])), control["id"]
    names = [control["test"] for control in controls if control["test"]]
    assert len(names) == len(set(names))


def test_scored_controls_have_tests(controls: list[dict[str, Any]]) -> None:
    untested = [
        control["id"]
        for control in controls
        if control["scored"] and not is_exception(control) and not control["test"]
    ]
    assert untested == []


def test_no_implemented_control_is_expected_to_warn(controls: list[dict[str, Any]]) -> None:
    for control in controls:
        if control.get("expected_result") == "WARN":
            assert is_exception(control), control["id"]
        if control.get("expected_result") == "INFO" and not is_exception(control):
            assert control.get("notes"), f"{control['id']}: say why INFO is expected"


def test_nist_ids_are_well_formed(controls: list[dict[str, Any]]) -> None:
    for control in controls:
        assert control["nist_800_53"], control["id"]
        for nist in control["nist_800_53"]:
            assert NIST_RE.match(nist), f"{control['id']}: {nist}"


def test_attack_techniques_are_well_formed_and_in_the_matrix(
    controls: list[dict[str, Any]],
) -> None:
    for control in controls:
        cid = control["id"]
        assert control["attack"], cid
        for technique in control["attack"]:
            tid = technique["id"]
            assert ATTACK_RE.match(tid), f"{cid}: {tid}"
            if technique.get("matrix", "containers") == "iaas":
                assert is_extra(cid), f"{cid}: {tid} is not a Containers technique"
                assert ATTACK_IAAS.get(tid) == technique["name"], f"{cid}: {tid}"
            else:
                assert ATTACK_CONTAINERS.get(tid) == technique["name"], f"{cid}: {tid}"


def test_readme_documents_every_field(schema: dict[str, Any]) -> None:
    readme = README_PATH.read_text(encoding="utf-8")
    for field in schema["$defs"]["control"]["properties"]:
        assert f"`{field}`" in readme, field


def readme_section_counts(readme: str) -> dict[str, int]:
    """Section -> count, from the README's numbering table (rows '| 2 daemon ... | 18 |')."""
    rows = re.findall(r"^\| (\d|x) [^|]+\|[^|]+\| (\d+) \|$", readme, re.MULTILINE)
    return {section: int(count) for section, count in rows}


def test_readme_counts_match_the_catalog(controls: list[dict[str, Any]]) -> None:
    counts = Counter(str(control["section"]) for control in controls)
    readme = README_PATH.read_text(encoding="utf-8")
    assert readme_section_counts(readme) == dict(counts)


def test_readme_counts_parser_sees_a_wrong_count() -> None:
    table = "| 2 daemon configuration | 2.1-2.18 | 18 |\n| x extras (not CIS) | X.1 | 1 |\n"
    assert readme_section_counts(table) == {"2": 18, "x": 1}


def test_readme_lists_every_remediating_role(controls: list[dict[str, Any]]) -> None:
    readme = README_PATH.read_text(encoding="utf-8")
    line = next(row for row in readme.splitlines() if row.startswith("| `role` |"))
    listed = set(re.findall(r"`(docker_\w+)`", line))
    assert listed == {control["role"] for control in controls if control["role"]}


# ----------------------------------------------------------------- helpers work


def test_missing_tests_reads_function_definitions(tmp_path: Path) -> None:
    tests_dir = tmp_path / "molecule" / "default" / "tests"
    tests_dir.mkdir(parents=True)
    (tests_dir / "test_daemon.py").write_text(
        "def test_cis_2_2_icc_disabled(host):\n    pass\n\n"
        "class TestMore:\n    def test_cis_2_3_log_level_info(self, host):\n        pass\n",
        encoding="utf-8",
    )
    fake = {
        "controls": [
            {"id": "2.2", "test": "test_cis_2_2_icc_disabled"},
            {"id": "2.3", "test": "test_cis_2_3_log_level_info"},
            {"id": "2.4", "test": "test_cis_2_4_iptables_enabled"},
            {"id": "2.12", "test": None},
        ]
    }
    assert missing_tests(fake, [tmp_path / "molecule", tmp_path / "absent"]) == [
        "2.4: test_cis_2_4_iptables_enabled"
    ]


def test_missing_remediation_tags_reads_nested_task_tags(tmp_path: Path) -> None:
    tasks = tmp_path / "docker_daemon" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "main.yml").write_text(
        "---\n"
        "- name: Daemon settings\n"
        "  tags: [section2]\n"
        "  block:\n"
        "    - name: 2.2 | PATCH | Disable icc\n"
        "      ansible.builtin.debug:\n"
        "        msg: !unsafe '{{ not templated }}'\n"
        "      tags:\n"
        "        - rule_2.2\n"
        "        - patch\n"
        "- name: Live restore\n"
        "  ansible.builtin.import_tasks: live_restore.yml\n"
        "  tags: rule_2.15, patch\n",
        encoding="utf-8",
    )
    fake = {
        "controls": [
            {"id": "2.2", "tag": "rule_2.2", "role": "docker_daemon"},
            {"id": "2.15", "tag": "rule_2.15", "role": "docker_daemon"},
            {"id": "2.16", "tag": "rule_2.16", "role": "docker_daemon"},
            {"id": "2.12", "tag": "rule_2.12", "role": None},
            {"id": "3.1", "tag": "rule_3.1", "role": "docker_files"},
        ]
    }
    assert missing_remediation_tags(fake, tmp_path) == [
        "2.16: rule_2.16 in roles/docker_daemon/tasks",
        "3.1: rule_3.1 in roles/docker_files/tasks",
    ]


# ----------------------------------------------------------------- completeness


def test_every_control_has_a_written_test(catalog: dict[str, Any]) -> None:
    missing = missing_tests(catalog, TEST_SEARCH_ROOTS)
    assert not missing, "no test function for:\n" + "\n".join(missing)


def test_every_implemented_control_has_tagged_tasks(catalog: dict[str, Any]) -> None:
    missing = missing_remediation_tags(catalog, ROLES_DIR)
    assert not missing, "no tagged remediation task for:\n" + "\n".join(missing)
