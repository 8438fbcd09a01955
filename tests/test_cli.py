"""`connscope run` and `compare`: one-line errors for bad input, a summary table, or the JSON result."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.target]

ROOT = Path(__file__).resolve().parents[1]


def connscope(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--backlog", "0"], "--backlog 0: Must be at least 1."),
        (["--handler", "slow"], "argument --handler: invalid choice: 'slow'"),
        (["--connections", "many"], "--connections many: Enter a whole number."),
        (["--limit-concurrency", "-3"], "--limit-concurrency -3"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--backlog", "4", "--backlog", "8"], "--backlog is given twice (4, then 8): give it once"),
    ],
)
def test_bad_flags_get_one_line_and_exit_2(args: list[str], says: str) -> None:
    done = connscope("run", *args)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("connscope: error: ")
    assert says in lines[0]


def test_json_result_has_the_documented_shape_and_counts() -> None:
    done = connscope(
        "run",
        "--limit-concurrency",
        "3",
        "--connections",
        "5",
        "--pattern",
        "rate",
        "--rate",
        "10",
        "--handler",
        "async",
        "--handler-ms",
        "800",
        "--loop",
        "asyncio",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["totals"] == {
        "connections": 5,
        "requests": 5,
        "ok": 2,
        "rejected": 3,
        "error": 0,
        "refused": 0,
        "reset": 0,
        "timeout": 0,
        "cancelled": 0,
    }
    assert set(result["peaks"]) >= {"limbo", "queued", "active", "accept_queue"}
    assert result["peaks"]["active"] == 2
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    assert result["accept_queue_capacity"] == min(2048, somaxconn), "backlog 2048, capped by somaxconn"
    assert set(result["latency_ms"]) == {"p50", "p90", "p99", "p99_9", "max"}
    assert set(result["connect_ms"]) == {"p50", "p90", "p99", "p99_9", "max"}
    first = result["connections"][0]
    assert first["states"][0][0] == "connecting"
    request = first["requests"][0]
    assert set(request) == {
        "outcome",
        "status",
        "latency_ms",
        "start_ms",
        "sent_ms",
        "first_byte_ms",
        "done_ms",
        "path",
    }
    # The client's own times, from the burst's start: due, connect() begun and done.
    assert first["intended_ms"] <= first["connect_start_ms"] <= first["connected_ms"]
    assert request["start_ms"] == first["intended_ms"] and request["sent_ms"] <= request["first_byte_ms"]
    assert (request["outcome"], request["status"]) == ("ok", 200)
    assert request["latency_ms"] >= 800
    assert request["done_ms"] <= first["states"][-1][1], "the response came before the connection closed"


def test_summary_table_shows_outcomes() -> None:
    done = connscope("run", "--connections", "3", "--handler-ms", "10", "--loop", "asyncio")
    assert done.returncode == 0, done.stderr
    rows = dict(line.split() for line in done.stdout.splitlines() if line.split()[:1] in (["ok"], ["rejected"]))
    assert rows == {"ok": "3", "rejected": "0"}


def test_scenarios_list_and_a_recorded_scenario_run_exports(tmp_path: Path) -> None:
    listing = connscope("scenarios")
    assert listing.returncode == 0
    ids = [line.split("\t")[0] for line in listing.stdout.splitlines()]
    assert ids[:5] == ["limit-async", "backlog-blocked", "backlog-full", "both-full", "off-by-one"]
    store = str(tmp_path / "runs.sqlite3")
    done = connscope("run", "--scenario", "off-by-one", "--record", "--store", store, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["scenario"] == "off-by-one"
    assert result["finding"].endswith("2 served, 4 rejected.")
    assert f"recorded as run {result['run_id']}" in done.stderr
    csv_file = tmp_path / "run.csv"
    exported = connscope("export", str(result["run_id"]), "--format", "csv", "-o", str(csv_file), "--store", store)
    assert exported.returncode == 0, exported.stderr
    lines = csv_file.read_text().splitlines()
    assert lines[0] == f"# connscope: run {result['run_id']}, scenario off-by-one"
    rows = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    assert [row["outcome"] for row in rows] == ["ok", "ok", "rejected", "rejected", "rejected", "rejected"]
    # Who took each connection and what it asked for: as the JSON has them.
    by_port = {c["port"]: c for c in result["connections"]}
    assert [row["worker_pid"] for row in rows] == [str(by_port[int(row["port"])]["worker_pid"] or "") for row in rows]
    assert {row["client"] for row in rows} == {"normal"} and {row["path"] for row in rows} == {"/"}
    as_json = connscope("export", str(result["run_id"]), "--format", "json", "-o", "-", "--store", store)
    assert json.loads(as_json.stdout)["totals"] == result["totals"]
    missing = connscope("export", "999", "-o", "-", "--store", store)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1


def test_compare_runs_one_burst_at_two_targets_and_says_which_did_better(tmp_path: Path) -> None:
    """uvicorn's limit 3 against 10, five requests of 800 ms arriving 100 ms apart: A turns
    away the three that find its gate full (two connections already held), B serves all."""
    store, report = str(tmp_path / "runs.sqlite3"), tmp_path / "rollout.md"
    burst = ["--connections", "5", "--pattern", "rate", "--rate", "10", "--handler-ms", "800", "--loop", "asyncio"]
    done = connscope(
        "compare", "--limit-concurrency", "3", "-b", "limit-concurrency=10", *burst,
        "--record", "--store", store, "--report", str(report),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("A\ntarget   uvicorn") and "\n\nB\ntarget   uvicorn" in out
    assert "A vs B   limit_concurrency 3 → 10" in out
    table = [re.split(r"\s{2,}", line.strip()) for line in out.split("A vs B", 1)[1].splitlines()]
    rows = {row[0]: row[1:] for row in table if len(row) == 4}
    assert rows["ok"] == ["2", "5", "B"]
    assert rows["rejected (503)"] == ["3", "0", "B"]
    assert rows["503 rate"] == ["60%", "0%", "B"]
    recorded = re.search(r"recorded as comparison (\d+) \(runs (\d+) and (\d+)\)", done.stderr)
    assert recorded is not None, done.stderr
    comparison, run_a, run_b = recorded.groups()
    assert report.is_file() and report.with_suffix(".png").is_file()
    written = report.read_text()
    assert "| rejected (503) | 3 | 0 | B |" in written and "| 503 rate | 60% | 0% | B |" in written
    # Times as every page writes them: 3 significant digits, whole from 100 ms up.
    for shown in re.findall(r"\| ([\d,.]+) ms ", written):
        digits = shown.replace(",", "")
        assert "." not in digits or len(digits.replace(".", "").lstrip("0")) <= 3, shown
    # Recorded before the report is written: it names the ids the store gave.
    assert written.startswith(f"# Comparison {comparison}") and f"| A (run {run_a}) | B (run {run_b}) |" in written
    listed = connscope("runs", "--store", store).stdout.splitlines()
    assert f"comparison:{comparison}" in [line.split("\t")[0] for line in listed]
    # The recorded comparison is the one the report command writes again.
    again = connscope("report", f"comparison:{recorded.group(1)}", "-o", str(tmp_path / "again.md"), "--store", store)
    assert again.returncode == 0, again.stderr
    assert "| rejected (503) | 3 | 0 | B |" in (tmp_path / "again.md").read_text()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-b", "limit-concurrency"], "-b limit-concurrency: expected SETTING=VALUE"),
        (["--set-a", "colour=red"], "-a colour=red: expected SETTING=VALUE"),
        (["--limit-concurrency", "4"], "A and B have the same settings"),
        (["-b", "limit-concurrency=0"], "-b limit-concurrency 0: Must be at least 1."),
        (["-b", "limt-concurrency=8"], "did you mean -b limit-concurrency=…?"),
        (["-a", "backlog=8", "-a", "backlog=16"], "-a backlog=16: backlog is given twice for A"),
        # argparse keeps a flag's last value: both sides would have served the second app.
        (["--app", "a:app", "--app", "b:app"], "--app is given twice (a:app, then b:app): for one side only"),
        (["-b", "connections=8"], "the burst is the same for both sides: give --connections instead"),
        (["-b", "app-dir=/srv/b"], "one --app-dir serves both sides: give it once"),
        (["--connections", "0"], "--connections 0: Must be at least 1."),
        (["-b", "backlog=8", "--report", "/nowhere/r.md"], "cannot write the report to /nowhere: no such directory"),
        # A folder: its .json and .png went beside it, after both bursts, and the Markdown failed.
        (["-b", "backlog=8", "--report", "/tmp"], "/tmp is a directory: name the report file in it"),
    ],
)
def test_compare_refuses_bad_sides_in_one_line_before_starting_anything(args: list[str], says: str) -> None:
    done = connscope("compare", *args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr


def test_compare_counts_dropped_syns_and_does_not_praise_a_queue_kept_short_by_overflowing() -> None:
    """backlog 2 against 64 with a loop-blocking handler (the backlog-full scenario's
    burst): A's queue fills and its kernel drops SYNs, B's holds every connection. A's
    lower queue peak is not a merit: it stayed low by turning connections away."""
    done = connscope(
        "compare", "--backlog", "2", "-b", "backlog=64", "--handler", "blocking", "--handler-ms", "500",
        "--loop", "asyncio", "--connections", "6", "--pattern", "rate", "--rate", "20", "--client-timeout", "20",
        "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    compared = json.loads(done.stdout)
    rows = {row["metric"]: row for row in compared["diff"]}
    dropped = sum(1 for c in compared["a"]["connections"] if c["syn_retransmits"])
    assert dropped > 0, "backlog 2 overflowed: the kernel dropped SYNs"
    assert (rows["syn_dropped"]["a"], rows["syn_dropped"]["b"], rows["syn_dropped"]["better"]) == (dropped, 0, "b")
    assert rows["peak_accept_queue"]["better"] is None and rows["peak_queued"]["better"] is None
    assert rows["peak_accept_queue"]["unjudged"] == rows["peak_queued"]["unjudged"] == "queue overflowed"
    assert compared["comparison_id"] is None, "not recorded"


def test_run_over_several_paths_prints_each_paths_requests_and_latency() -> None:
    """Which path was slow shows in the table, not only in --json (a user's app answers its
    paths differently; the workload answers them alike). --paths splits exactly by weight."""
    done = connscope(
        "run", "--connections", "4", "--pattern", "rate", "--rate", "10", "--paths", "/:50,/b:50",
        "--handler-ms", "50", "--loop", "asyncio",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = done.stdout.split("\npath ", 1)[1].splitlines()
    assert table[0].split() == ["requests", "ok", "rejected", "other", "latency", "ms"]
    rows = {row.split()[0]: row.split() for row in table[1:]}
    assert set(rows) == {"/", "/b"}
    assert [rows[path][1:5] for path in ("/", "/b")] == [["2", "2", "0", "0"], ["2", "2", "0", "0"]]
    assert all("p50" in row for row in rows.values())
