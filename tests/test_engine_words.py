"""Every engine in its own words: a Granian, Hypercorn or gunicorn run's report, the CLI's
table and a comparison against uvicorn name that engine's own gate and settings, never
uvicorn's limit_concurrency for a server that has none. Real targets, small bursts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cli.run import render_table
from app.experiment import run_once
from app.export import to_html
from app.report.files import ReportFiles
from app.report.run import render
from app.result import RunResult
from app.sandbox.engines import ENGINES, setting_text
from app.sandbox.settings import TargetSettings
from app.traffic.spec import BurstSpec
from tests.conftest import run_async
from tests.support import start_target
from tests.test_compare import BURST, SLOW, compare

# Four 300 ms requests 100 ms apart on a pinned loop: no engine's gate of 2 or more turns one away.
TRAFFIC = BurstSpec(connections=4, pattern="rate", rate=10, client_timeout_s=10)


def _run(**settings: Any) -> RunResult:
    target = TargetSettings(**SLOW, **settings)
    return run_async(lambda: run_once(target, TRAFFIC))


def _report(result: RunResult, tmp_path: Path) -> tuple[str, str]:
    """The run's report as the replay page's Report zip and `connscope report` write it: its
    Markdown and its finding."""
    markdown = render(result, ReportFiles(tmp_path / "report.md")).read_text()
    found = re.search(r"\*\*Finding\.\*\* (.*)", markdown)
    assert found is not None
    return markdown, found.group(1)


def test_a_setting_left_empty_reads_as_the_form_says_it() -> None:
    """One meaning per empty field: the engine's words for it are the form's empty choice."""
    for engine in ENGINES.values():
        for setting in engine.settings:
            if setting.unset is not None:
                extra = TargetSettings.model_fields[setting.name].json_schema_extra
                # The form may say whose default it is ("Granian's default, on"); the value is the engine's.
                assert isinstance(extra, dict) and extra["empty"].replace(" ", "").endswith(
                    setting.unset.replace(" ", "")
                )
    assert setting_text(None, "http1_keep_alive") == setting_text(True, "http1_keep_alive") == "on"
    assert setting_text(False, "http1_keep_alive") == "off"
    assert setting_text(None, "limit_concurrency") == "none"


@pytest.mark.target
def test_a_granian_run_is_described_by_its_backpressure_per_worker(tmp_path: Path) -> None:
    result = _run(server="granian", backpressure=2, workers=2)
    assert result.totals.ok == 4
    markdown, finding = _report(result, tmp_path)
    assert "Granian with backpressure 2 per worker turns away none" in finding
    assert "uvicorn" not in finding and "limit" not in finding
    assert "| slots per worker (`backpressure`) | 2 |" in markdown
    assert "limit\\_concurrency" not in markdown and "limit_concurrency" not in markdown
    assert "| `http1_keep_alive` | on |" in markdown
    assert "http1_keep_alive=on" in render_table(result)
    # The replay (its export is the same page, self-contained) says the per-worker bound by its name.
    replay = to_html(result)
    assert "per worker <small>(backpressure 2 each)</small>" in replay
    assert "limit_concurrency none" not in replay


@pytest.mark.target
def test_a_hypercorn_run_says_it_has_no_gate(tmp_path: Path) -> None:
    result = _run(server="hypercorn")
    assert result.totals.ok == 4
    markdown, finding = _report(result, tmp_path)
    assert "Hypercorn, which has no concurrency gate, turns away none" in finding
    assert "uvicorn" not in finding
    assert "| slots (Hypercorn has no concurrency gate) | none |" in markdown
    assert "keep_alive_timeout=5 s" in render_table(result)


@pytest.mark.target
def test_a_gunicorn_runs_limit_is_said_per_worker(tmp_path: Path) -> None:
    result = _run(server="gunicorn", workers=2, limit_concurrency=3)
    markdown, finding = _report(result, tmp_path)
    assert "gunicorn with limit 3 per worker turns away" in finding
    assert "| slots per worker (`limit_concurrency`) | 3 |" in markdown


@pytest.fixture(scope="module")
def uvicorn_vs_granian(dashboard: str) -> dict[str, Any]:
    """uvicorn's limit 1 (every request answered 503) against Granian's backpressure 2."""
    return compare(dashboard, {**SLOW, "limit_concurrency": 1}, {**SLOW, "server": "granian", "backpressure": 2}, BURST)


@pytest.mark.target
def test_each_side_of_a_comparison_speaks_its_own_engine(dashboard: str, uvicorn_vs_granian: dict[str, Any]) -> None:
    record = uvicorn_vs_granian["record_id"]
    report = httpx.get(f"{dashboard}/api/comparisons/{record}", timeout=10).json()
    assert "uvicorn with limit 1 turns away 100% with 503" in report["finding"]
    assert "Granian with backpressure 2 turns away none" in report["finding"]
    assert "no backpressure" not in report["finding"] and "server granian" not in report["finding"]
    rows = {row["name"]: row for row in report["settings"]}
    assert (rows["backpressure"]["a"], rows["backpressure"]["b"]) == ("not uvicorn's", "2")
    assert (rows["timeout_keep_alive"]["a"], rows["timeout_keep_alive"]["b"]) == ("5", "not Granian's")
    assert (rows["http1_keep_alive"]["a"], rows["http1_keep_alive"]["b"]) == ("not uvicorn's", "on")
    assert rows["limit_max_requests"]["b"] == "not Granian's" and rows["http"]["b"] == "not Granian's"
    only = {d["name"]: d["only"] for d in report["settings_diff"]}
    assert only["timeout_keep_alive"] == "a" and only["backpressure"] == "b" and only["server"] is None

    markdown = httpx.get(f"{dashboard}/api/comparisons/{record}/report", timeout=60).text
    assert "# Comparison" in markdown and "uvicorn with limit 1 against Granian with backpressure 2" in markdown
    assert "| **timeout_keep_alive** | 5 | not Granian's |" in markdown
    assert "| **http1_keep_alive** | not uvicorn's | on |" in markdown

    html = httpx.get(
        f"{dashboard}/runs/compare",
        params=[("run", uvicorn_vs_granian["run_a"]), ("run", uvicorn_vs_granian["run_b"])],
        timeout=10,
    ).text
    row = re.search(r'data-setting="timeout_keep_alive">(.*?)</tr>', html, re.S)
    assert row is not None and re.findall(r"<td>(.*?)</td>", row.group(1)) == ["5", "not Granian&#39;s"]


@pytest.mark.target
def test_queue_peaks_are_not_judged_when_one_side_turned_most_away(
    dashboard: str, uvicorn_vs_granian: dict[str, Any]
) -> None:
    """uvicorn answered every request 503 at once, so its queue stayed short: no ✔ for it."""
    record = uvicorn_vs_granian["record_id"]
    report = httpx.get(f"{dashboard}/api/comparisons/{record}", timeout=10).json()
    rows = {row["metric"]: row for row in report["diff"]}
    assert (rows["rejected_pct"]["a"], rows["rejected_pct"]["b"]) == (100, 0)
    # No ✔ for either side: not judged, or, where the figures are the same, equal.
    for metric in ("peak_accept_queue", "peak_queued", "latency_p99"):
        row = rows[metric]
        judged = row["a"] == row["b"] and row["better"] == "equal"
        assert judged or (row["better"], row["unjudged"]) == (None, "503 rates differ"), row
    html = httpx.get(
        f"{dashboard}/runs/compare",
        params=[("run", uvicorn_vs_granian["run_a"]), ("run", uvicorn_vs_granian["run_b"])],
        timeout=10,
    ).text
    # The page judges as the API does: each row's mark is the API's verdict, equal peaks included.
    for metric in ("peak_queued", "latency_p99"):
        assert f'data-metric="{metric}" data-better="{rows[metric]["better"] or ""}"' in html
    # 503s answered at once against requests served in 300 ms: the latencies always differ.
    assert (rows["latency_p99"]["better"], rows["latency_p99"]["unjudged"]) == (None, "503 rates differ")
    assert "latency and queue peaks are not judged when the 503 rates differ by more than 5 points" in html


WORDS = """() => ({
  accepted: document.querySelector('[data-for="accepted"] .lane-caption').textContent,
  slotsLabel: document.querySelector('dd[data-count="slots"]').previousElementSibling.textContent,
  slots: document.querySelector('dd[data-count="slots"]').textContent,
  rejected: document.querySelector('.counter[data-outcome="rejected"] small').textContent,
  acceptedTitle: document.querySelector('.counter[data-state="accepted"]').title,
})"""


@pytest.mark.target
@pytest.mark.browser
def test_the_live_page_says_the_targets_own_server_and_gate(dashboard: str, page: Any) -> None:
    granian = start_target(dashboard, {"server": "granian", "backpressure": 2})
    page.goto(dashboard)
    page.wait_for_selector(f'#target-status[data-target-id="{granian["id"]}"]', timeout=15_000)
    page.wait_for_function("() => document.querySelector('dd[data-count=\"slots\"]').textContent === '2'")
    assert page.evaluate(WORDS) == {
        "accepted": "Granian has it, not the app",
        "slotsLabel": "slots (backpressure)",
        "slots": "2",
        "rejected": "503 from the app: Granian has no 503 gate",
        "acceptedTitle": "Granian, not in app",
    }
    hypercorn = start_target(dashboard, {"server": "hypercorn"})
    page.wait_for_selector(f'#target-status[data-target-id="{hypercorn["id"]}"]', timeout=15_000)
    page.wait_for_function("() => document.querySelector('dd[data-count=\"slots\"]').textContent === 'no gate'")
    said = page.evaluate(WORDS)
    assert said["accepted"] == "Hypercorn has it, not the app" and said["slotsLabel"] == "slots (Hypercorn: no gate)"
    assert said["rejected"] == "503 from the app: Hypercorn has no 503 gate"
    uvicorn = start_target(dashboard, {"limit_concurrency": 3})
    page.wait_for_selector(f'#target-status[data-target-id="{uvicorn["id"]}"]', timeout=15_000)
    page.wait_for_function("() => document.querySelector('dd[data-count=\"slots\"]').textContent === '3'")
    said = page.evaluate(WORDS)
    assert said["accepted"] == "uvicorn has it, not the app" and said["slotsLabel"] == "slots (limit_concurrency)"
    assert said["rejected"] == "503, limit reached"


@pytest.mark.target
def test_a_granian_sweeps_report_lists_only_granians_settings(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "sweep", "--server", "granian", "--backpressure", "1,2",
         "--handler-ms", "100", "--connections", "2", "--no-record", "--report", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    target = next(line for line in (tmp_path / "report" / "report.md").read_text().splitlines() if "target:" in line)
    assert "server=granian" in target and "http1_keep_alive=on" in target
    for foreign in ("limit_concurrency", "timeout_keep_alive", "limit_max_requests", "keep_alive_timeout", "http="):
        assert foreign not in target, target
