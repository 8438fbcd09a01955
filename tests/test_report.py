"""`connscope report ID -o report.md` and the replay page's Report button: a Markdown report
of a recorded run with its plot and the JSON behind its finding."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from app.numbers import ms_text
from app.report.run import finding
from tests.support import ROOT, start_target, wait_burst, wait_run_id

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# A number as the finding writes it (2,000 · 12 · 0.5), not the digits of a name (p99).
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")


def connscope(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def numbers_in(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in NUMBER.findall(text)]


def numbers_of(value: Any) -> set[float]:
    """Every number anywhere in a JSON value."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return set()
    if isinstance(value, int | float):
        return {float(value)}
    items = value.values() if isinstance(value, dict) else value
    return set().union(*(numbers_of(v) for v in items)) if items else set()


def assert_valid_png(data: bytes) -> None:
    assert data.startswith(PNG_MAGIC)
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG" and image.width >= 400 and image.height >= 300


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A recorded run where a 2-slot limit turns some requests away and serves the others
    after 50 ms: a finding with a 503 share, a p99 and the backlog's peak."""
    path = tmp_path_factory.mktemp("report-store") / "runs.sqlite3"
    done = connscope(
        "run",
        *("--connections", "40", "--pattern", "rate", "--rate", "50"),
        *("--limit-concurrency", "2", "--handler-ms", "50", "--backlog", "64", "--loop", "asyncio"),
        *("--record", "--store", str(path)),
    )
    assert done.returncode == 0, done.stderr
    run_id = int(re.search(r"recorded as run (\d+)", done.stderr).group(1))  # type: ignore[union-attr]
    return path, run_id


@pytest.mark.target
def test_report_writes_markdown_with_its_plot_and_json(store: tuple[Path, int], tmp_path: Path) -> None:
    path, run_id = store
    out = tmp_path / "rollout.md"
    done = connscope("report", str(run_id), "-o", str(out), "--store", str(path))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rollout.json", "rollout.md", "rollout.png"]
    assert_valid_png((tmp_path / "rollout.png").read_bytes())
    data = json.loads((tmp_path / "rollout.json").read_text())
    result, figures = data["result"], data["figures"]
    text = out.read_text()
    assert f"**Finding.** {data['finding']}" in text
    for heading in ("## Settings", "## Traffic", "## Results", "## Plot"):
        assert heading in text
    assert "| `limit_concurrency` | 2 |" in text and "| `backlog` | 64 |" in text
    # uvicorn's settings and the workload's; not Granian's or gunicorn's at their defaults.
    assert "| setting (uvicorn's name) | value |" in text
    assert "`backpressure`" not in text and "`gunicorn_timeout`" not in text
    assert "40 connections opened at 50 new connections/s" in text
    assert "| ms | p50 | p90 | p99 | p99.9 | max |" in text
    latency_row = next(line for line in text.splitlines() if line.startswith("| latency"))
    # Rounded as the finding and the replay page say them (app/numbers.py).
    shown = [ms_text(result["latency_ms"][k]) for k in ("p50", "p90", "p99", "p99_9", "max")]
    assert latency_row.split(" | ")[1:] == [*shown[:-1], f"{shown[-1]} |"]
    assert "](rollout.png)" in text
    # The figures are the run's, rounded as the finding says them.
    totals = result["totals"]
    assert (figures["requests"], figures["rejected"], figures["ok"]) == (
        totals["requests"],
        totals["rejected"],
        totals["ok"],
    )
    assert 0 < totals["rejected"] < totals["requests"] == 40
    assert figures["rejected_pct"] == pytest.approx(100 * totals["rejected"] / totals["requests"], abs=0.5)
    assert figures["p99_ms"] == pytest.approx(result["latency_ms"]["p99"], rel=0.005)
    assert figures["accept_queue_capacity"] == result["accept_queue_capacity"]
    assert figures["limit_concurrency"] == 2 and figures["rate_per_s"] == 50


@pytest.mark.target
def test_every_number_in_the_finding_is_in_report_json(store: tuple[Path, int], tmp_path: Path) -> None:
    path, run_id = store
    done = connscope("report", str(run_id), "-o", str(tmp_path / "report.md"), "--store", str(path))
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "report.json").read_text())
    quoted = numbers_in(data["finding"])
    # rate, handler, limit, share, rejected, requests, 503, p99, max, backlog peak and capacity
    assert len(quoted) >= 10, data["finding"]
    available = numbers_of(data["figures"])
    missing = [n for n in quoted if n not in available]
    assert not missing, (data["finding"], missing, data["figures"])


@pytest.mark.target
def test_two_reports_in_one_folder_keep_their_own_files(store: tuple[Path, int], tmp_path: Path) -> None:
    path, run_id = store
    for name in ("monday.md", "tuesday.md"):
        done = connscope("report", str(run_id), "-o", str(tmp_path / name), "--store", str(path))
        assert done.returncode == 0, done.stderr
        stem = name.removesuffix(".md")
        assert f"beside it: {stem}.png, {stem}.json" in done.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["monday.json", "monday.md", "monday.png", "tuesday.json", "tuesday.md", "tuesday.png"]
    assert "](monday.png)" in (tmp_path / "monday.md").read_text()
    # A name the JSON would take is refused in one line, before anything is written.
    done = connscope("report", str(run_id), "-o", str(tmp_path / "numbers.json"), "--store", str(path))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "name it like rollout.md" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == names


def test_the_finding_says_the_numbers_in_plain_words() -> None:
    figures = {
        "pattern": "rate",
        "connections": 2000,
        "rate_per_s": 300,
        "ramp_s": None,
        "handler_ms": 200,
        "limit_concurrency": 50,
        "requests": 2000,
        "ok": 1760,
        "rejected": 240,
        "rejected_status": 503,
        "rejected_pct": 12,
        "others": {},
        "p99_ms": 410,
        "max_ms": 432,
        "peak_active": 50,
        "accept_queue_peak": 37,
        "accept_queue_capacity": 128,
        "backlog_filled": False,
        "cut_short": False,
    }
    assert finding(figures) == (
        "At 300 new connections/s and a 200 ms handler, limit 50 turns away 12% (240 of 2,000) with 503 and "
        "p99 is 410 ms (max 432 ms); the backlog never filled (peak 37 of 128)."
    )
    # A user's app: the handler settings do not apply to it, so the sentence names the app.
    assert finding(figures | {"app": "shop.main:app"}).startswith(
        "At 300 new connections/s and the app shop.main:app, limit 50 turns away 12%"
    )
    no_limit = figures | {"limit_concurrency": None, "rejected": 0, "rejected_pct": 0, "others": {"timeout": 7}}
    assert finding(no_limit | {"backlog_filled": True, "accept_queue_peak": 128}) == (
        "At 300 new connections/s and a 200 ms handler, uvicorn without a concurrency limit turns away none and p99 "
        "is 410 ms (max 432 ms); 7 timed out; the backlog filled (peak 128 of 128)."
    )


def test_unknown_id_and_unwritable_output_are_one_line_errors(store: tuple[Path, int], tmp_path: Path) -> None:
    path, _ = store
    cases = {
        ("987654", str(tmp_path / "r.md")): "connscope: error: no run 987654 in",
        ("abc", str(tmp_path / "r.md")): "connscope: error: ID must be a number",
        ("1", str(tmp_path / "missing" / "r.md")): "connscope: error: cannot write the report to",
    }
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    cases[("1", str(a_file / "r.md"))] = "connscope: error: cannot write the report to"
    for (record, output), message in cases.items():
        done = connscope("report", record, "-o", output, "--store", str(path))
        assert done.returncode == 2, (record, output, done.stderr)
        assert done.stderr.startswith(message) and done.stderr.count("\n") == 1, done.stderr
        assert done.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"], "nothing half-written"


@pytest.mark.browser
@pytest.mark.target
def test_report_button_on_the_run_page_downloads_the_report(dashboard: str, page: Any, tmp_path: Path) -> None:
    target = start_target(dashboard, {"limit_concurrency": 1, "handler_ms": 30, "loop": "asyncio"})
    burst = httpx.post(
        f"{dashboard}/api/targets/{target['id']}/bursts",
        json={"connections": 10, "pattern": "rate", "rate": 20},
        timeout=10,
    ).json()
    wait_burst(dashboard, target["id"], burst["id"])
    run_id = wait_run_id(dashboard, target["id"])
    page.goto(f"{dashboard}/runs/{run_id}")
    with page.expect_download(timeout=30_000) as download:
        page.click("[data-report]")
    assert download.value.suggested_filename == f"connscope-run-{run_id}-report.zip"
    saved = tmp_path / "report.zip"
    download.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        assert sorted(archive.namelist()) == ["report.json", "report.md", "report.png"]
        assert_valid_png(archive.read("report.png"))
        data = json.loads(archive.read("report.json"))
        text = archive.read("report.md").decode()
    stored = httpx.get(f"{dashboard}/api/runs/{run_id}", timeout=10).json()
    assert data["result"] == stored
    assert f"**Finding.** {data['finding']}" in text and f"# connscope report: run {run_id}" in text
    assert all(n in numbers_of(data["figures"]) for n in numbers_in(data["finding"]))

    missing = httpx.get(f"{dashboard}/runs/987654321/report", timeout=10)
    assert (missing.status_code, missing.text) == (404, "no run 987654321")
    assert missing.headers["content-type"].startswith("text/plain")
    odd = httpx.get(f"{dashboard}/runs/%3Cscript%3E/report", timeout=10)
    assert odd.status_code == 422 and odd.headers["content-type"].startswith("application/json")


def test_matplotlib_is_loaded_only_to_write_a_report() -> None:
    """The dashboard and the CLI import the report package; the plot library stays out of
    their start-up and the live page's path until a report is written."""
    probe = "import sys, app.cli, app.web.app, app.report;print('matplotlib' in sys.modules, 'hdrh' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "True"], done.stderr
