"""The pure parts of scripts/bench.py and the load generator scripts/bench_load.py."""

import importlib.util
import json
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))  # bench.py imports ansible_recap from there


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


bench = _load("bench")
bench_load = _load("bench_load")
bench_tables = _load("bench_tables")

# As ansible-playbook prints it with profile_tasks (ansible.cfg).
PLAYBOOK_OUTPUT = """\
TASK [docker_app : AUDIT | Read the stack] *************************************
ok: [dockhard-bench-a]

TASK [docker_compliance : AUDIT | Write the reports] ***************************
ok: [dockhard-bench-a]
changed: [dockhard-bench-b]

RUNNING HANDLER [docker_restart : Restart docker] ******************************
changed: [dockhard-bench-b]

PLAY RECAP *********************************************************************
dockhard-bench-a           : ok=212  changed=0    unreachable=0    failed=0    skipped=41   rescued=0    ignored=0
dockhard-bench-b           : ok=200  changed=3    unreachable=0    failed=0    skipped=40   rescued=1    ignored=0


TASKS RECAP ********************************************************************
Sunday 29 November 2026  08:23:22 +0000 (0:00:00.485)       0:01:31.915 *******
========================================================================

docker_auditd : 1.1.3 | AUDIT | Find the unit files systemd uses -------- 19.09s
docker_app : 4.6 | PATCH | Base root filesystems are built when their recipe changed - 158.71s
docker_app : AUDIT | Wait for the stack to be healthy ------------------- 4.61s
Gathering Facts --------------------------------------------------------- 0.87s
"""  # noqa: E501 - real recap lines are that long


def test_summarize_gives_median_min_max():
    summary = bench.summarize([3.0, 1.0, 2.0, 10.0])
    assert summary["median"] == 2.5
    assert (summary["min"], summary["max"], summary["n"]) == (1.0, 10.0, 4)
    assert summary["runs"] == [3.0, 1.0, 2.0, 10.0]
    assert bench.summarize([]) is None


def test_ratio_of_medians():
    assert bench.ratio(bench.summarize([10, 30]), bench.summarize([40])) == 0.5
    assert bench.ratio(None, bench.summarize([1])) is None
    assert bench.ratio(bench.summarize([1]), bench.summarize([0])) is None


def test_parse_recap_per_host():
    recap = bench.parse_recap(PLAYBOOK_OUTPUT)
    assert set(recap) == {"dockhard-bench-a", "dockhard-bench-b"}
    assert recap["dockhard-bench-a"]["ok"] == 212
    assert recap["dockhard-bench-b"]["rescued"] == 1
    assert bench.recap_total(recap, "changed") == 3
    assert bench.recap_total(recap, "failed") == 0


def test_parse_recap_of_coloured_output():
    """A plain `molecule test` forces Ansible's colours on: the counts are read the same."""
    coloured = PLAYBOOK_OUTPUT.replace("changed=", "\x1b[0;33mchanged=").replace("\n", "\x1b[0m\n")
    assert coloured != PLAYBOOK_OUTPUT
    assert bench.parse_recap(coloured) == bench.parse_recap(PLAYBOOK_OUTPUT) != {}


def test_parse_recap_without_recap():
    assert bench.parse_recap("ERROR! the playbook could not be found") == {}


def test_parse_changed_tasks():
    assert bench.parse_changed_tasks(PLAYBOOK_OUTPUT) == [
        "docker_compliance : AUDIT | Write the reports",
        "docker_restart : Restart docker",
    ]


def test_parse_task_times():
    tasks = bench.parse_task_times(PLAYBOOK_OUTPUT)
    assert tasks == [
        ("docker_auditd : 1.1.3 | AUDIT | Find the unit files systemd uses", 19.09),
        (
            "docker_app : 4.6 | PATCH | Base root filesystems are built when their recipe changed",
            158.71,
        ),
        ("docker_app : AUDIT | Wait for the stack to be healthy", 4.61),
        ("Gathering Facts", 0.87),
    ]


def test_slowest_tasks_by_median_over_runs():
    runs = [[("a", 1.0), ("b", 5.0)], [("a", 9.0), ("b", 4.0)], [("a", 2.0), ("c", 0.5)]]
    ranked = bench.slowest_tasks(runs, limit=2)
    assert [t["task"] for t in ranked] == ["b", "a"]
    assert ranked[0] == {"task": "b", "median_s": 4.5, "max_s": 5.0}
    assert ranked[1]["median_s"] == 2.0


def test_format_table_pads_columns():
    table = bench_tables.format_table(["figure", "value"], [["rerun", "80.1 s"], ["x", "1"]])
    assert table.splitlines() == [
        "| figure | value  |",
        "| ------ | ------ |",
        "| rerun  | 80.1 s |",
        "| x      | 1      |",
    ]


def test_format_table_rejects_ragged_rows():
    with pytest.raises(ValueError, match="expected 2"):
        bench_tables.format_table(["a", "b"], [["only one"]])


def test_fmt_stat_and_goal():
    assert bench_tables.fmt_stat(bench.summarize([12.34, 11.0, 13.06])) == "12.3 s (11.0-13.1)"
    assert bench_tables.fmt_stat(bench.summarize([5.0])) == "5.0 s"
    assert bench_tables.fmt_stat(None) == "-"
    assert bench_tables.fmt_goal(0.4, 0.5) == "met"
    assert bench_tables.fmt_goal(0.6, 0.5) == "missed"
    assert bench_tables.fmt_goal(1.5, 2.0, higher_is_better=True) == "missed"
    assert bench_tables.fmt_goal(None, 2.0) == "-"


def test_cpu_busy_seconds_leaves_out_idle_and_iowait():
    ticks = bench.os.sysconf("SC_CLK_TCK")
    text = f"cpu  {3 * ticks} 0 {ticks} {50 * ticks} {2 * ticks} 0 0 0 {ticks} 0\ncpu0 1 2 3\n"
    assert bench.cpu_busy_seconds(text) == 4.0


def test_meminfo():
    meminfo = "MemTotal:       24000000 kB\nMemAvailable:   20000000 kB\n"
    assert bench.meminfo_bytes(meminfo, "MemAvailable") == 20000000 * 1024
    assert bench.meminfo_bytes(meminfo, "SwapTotal") is None


def test_inventory_copies_the_local_connection_vars():
    local = {
        "docker_hosts": {"hosts": {"dockhard-local": {"ansible_connection": "c", "x": 1}}},
        "app_hosts": {"hosts": {"dockhard-local": None}},
    }
    data = bench.inventory(bench.host_template_vars(local), ["h1", "h2"], [])
    assert data["docker_hosts"]["hosts"]["h2"] == {"ansible_connection": "c", "x": 1}
    assert data["app_hosts"] == {"hosts": {}}
    assert bench.inventory({}, ["h1"], ["h1"])["app_hosts"] == {"hosts": {"h1": None}}


def test_render_a_partial_report():
    report = {
        "single_host": {
            "first_converge_s": bench.summarize([300, 320]),
            "rerun_s": bench.summarize([90, 95]),
            "check_s": bench.summarize([80]),
            "rerun_changed": [0, 0],
            "check_changed": [0],
            "rerun_changed_tasks": [[], ["x : y"]],
            "rerun_ratio": 0.3,
            "rerun_slowest_tasks": [{"task": "t", "median_s": 19.0, "max_s": 20.0}],
        },
        "fleet": {
            "forks": 10,
            "largest": 8,
            "ratio_largest_to_1": None,
            "sizes": {
                "1": {
                    "converge_s": bench.summarize([100.0]),
                    "hosts_rss_bytes": bench.summarize([2 * 1024**3]),
                },
                "8": {"skipped": "low"},
            },
        },
    }
    text = bench.render(report)
    assert "| no-drift rerun" in text
    assert "changed=0" in text
    assert "skipped: low" in text
    assert "100.0 s, hosts' RSS 2048 MiB" in text
    assert "| t " in text
    assert "changed in the rerun runs:\n- x : y" in text


def test_percentile_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert bench_load.percentile(values, 0.5) == 50.0
    assert bench_load.percentile(values, 0.99) == 99.0
    assert bench_load.percentile([7.0], 0.99) == 7.0
    assert bench_load.percentile([], 0.5) is None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n")
            return
        if self.path.startswith("/close"):  # no length: the body ends at the close
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"body until close")
            self.close_connection = True
            return
        body = b"{}" if self.path.startswith("/ok") else b"no"
        self.send_response(200 if self.path.startswith("/ok") else 429)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def test_load_generator_speaks_http_over_a_unix_socket(tmp_path):
    # How the bench reaches gunicorn, which listens on a unix socket only.
    path = tmp_path / "app.sock"

    class Handler(_Handler):
        def address_string(self):
            return "unix"

    httpd = _UnixServer(str(path), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        result = bench_load.run(f"http+unix://{quote(str(path), safe='')}/ok", 2, 60.0, 10, 5.0)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result["statuses"] == {"200": 10}
    assert result["errors"] == {}


def test_load_generator_stops_at_the_request_count(server):
    result = bench_load.run(server + "/ok?name=bob", 3, 60.0, 40, 5.0)
    assert result["answered"] == 40
    assert result["ok"] == 40
    assert result["statuses"] == {"200": 40}
    assert result["errors"] == {}
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]


@pytest.mark.parametrize("path", ["/chunked", "/close"])
def test_load_generator_reads_every_body_framing(server, path):
    result = bench_load.run(server + path, 2, 60.0, 20, 5.0)
    assert result["statuses"] == {"200": 20}
    assert result["errors"] == {}


def test_load_generator_counts_refusals_apart(server, capsys):
    assert bench_load.main([server + "/limited", "--requests", "5", "--concurrency", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["statuses"] == {"429": 5}
    assert result["ok"] == 0
    assert result["ok_rps"] == 0.0


def test_load_generator_only_http():
    with pytest.raises(ValueError, match="http://"):
        bench_load.run("https://127.0.0.1/", 1, 1.0, 1, 1.0)


@pytest.mark.parametrize(
    ("machine", "expected"),
    [("x86_64", "manylinux2014_x86_64"), ("aarch64", "manylinux2014_aarch64")],
)
def test_wheel_platform_follows_the_machine(machine, expected):
    assert bench.wheel_platform(machine) == expected


def test_wheel_platform_of_this_machine_is_the_roles():
    assert bench.wheel_platform() == f"manylinux2014_{bench.platform.machine()}"


def test_wheel_platform_refuses_other_machines():
    with pytest.raises(SystemExit, match="unsupported architecture riscv64"):
        bench.wheel_platform("riscv64")


def test_only_a_complete_full_run_replaces_the_record():
    record = json.loads(bench.RECORD.read_text())
    assert bench.complete(record)
    assert not bench.complete({**record, "profile": {"name": "quick"}})
    assert not bench.complete({**record, "error": "RuntimeError: boom"})
    assert not bench.complete({k: v for k, v in record.items() if k != "images"})
    fleet = {**record["fleet"], "sizes": {**record["fleet"]["sizes"], "8": {"skipped": "low"}}}
    assert not bench.complete({**record, "fleet": fleet})


def test_registry_inventory_puts_the_app_host_in_registry_mode(tmp_path):
    data = bench.registry_inventory({"ansible_connection": "c"}, "hub", "app", tmp_path)
    assert data["build_hosts"]["hosts"] == {"hub": {"ansible_connection": "c"}}
    assert list(data["docker_hosts"]["hosts"]) == ["app"]
    assert data["app_hosts"] == {
        "hosts": {"app": None},
        "vars": {"docker_app_image_source": "registry"},
    }
    settings = data["all"]["vars"]
    assert settings["docker_app_registry"] == "hub:5000"
    assert settings["docker_app_images_file"] == str(tmp_path / "app-images.json")
    assert "lookup('ansible.builtin.password'" in settings["docker_app_registry_password"]


def test_registry_rows_compare_with_the_on_host_build():
    registry = {"first_converge_s": bench.summarize([80.0]), "build_s": 150.0, "rerun_changed": [0]}
    rows = bench_tables.registry_rows(
        {"registry": registry, "single_host": {"first_converge_s": bench.summarize([200.0])}}
    )
    assert rows[0][0] == "first converge, registry mode"
    assert "80.0 s" in rows[0][1] and "changed=0 on rerun" in rows[0][1]
    assert rows[1][1:] == ["0.40", "<= 0.5", "met"]
    alone = {"registry": registry, "on_host_first_converge_s": bench.summarize([150.0])}
    assert bench_tables.registry_rows(alone)[1][3] == "missed"
    assert bench_tables.registry_rows({}) == []


def test_rerun_modes_are_summarised_per_mode_with_their_ratios():
    measured = {
        "full": {
            "wall": [60.0, 62.0],
            "cpu": [80.0, 84.0],
            "busy": [100.0, 104.0],
            "changed": [0, 0],
        },
        "audit_first": {
            "wall": [18.0, 20.0],
            "cpu": [32.0, 36.0],
            "busy": [40.0, 44.0],
            "changed": [0, 0],
        },
    }
    summary = bench.rerun_modes_summary(measured, 4)
    assert summary["hosts"] == 4
    assert summary["full"]["cpu_per_host_s"]["median"] == 20.5
    assert summary["audit_first"]["wall_s"]["median"] == 19.0
    assert summary["ratio_wall_s"] == 19.0 / 61.0
    assert summary["ratio_cpu_per_host_s"] == 8.5 / 20.5
