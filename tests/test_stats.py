"""Latency statistics: the HDR-histogram percentiles (p50, p90, p99, p99.9, max) of a run, as
`connscope run --json` prints them, checked against the run's own records; the dashboard, the
replay and the CLI show the same figures for the same run."""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from app.result import load
from app.timeline.histogram import percentiles_ms
from tests.support import ROOT, start_target, wait_burst, wait_run_id

KEYS = ("p50", "p90", "p99", "p99_9", "max")
QUANTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99_9": 99.9}
LABELS = ("p50", "p90", "p99", "p99.9", "max")
RELATIVE = 1 / 1000
"""HDR at 3 significant digits: a figure is at most 0.1% above the measured value at its rank."""
ROUNDING_MS = 0.002
"""The result keeps times to the µs; a difference of two such times may be off by 2 µs."""


def expected_at_rank(values: list[float], q: float) -> float:
    """The measured value at rank round(q·N/100), at least 1: computed here, without hdrh."""
    ordered = sorted(values)
    rank = max(1, int(q * len(ordered) / 100 + 0.5))
    return ordered[rank - 1]


def assert_within_precision(figures: dict[str, Any], values: list[float]) -> None:
    assert set(figures) == set(KEYS)
    largest = max(values)
    assert figures["max"] == pytest.approx(largest, abs=ROUNDING_MS)
    for key, q in QUANTILES.items():
        measured = expected_at_rank(values, q)
        assert measured - ROUNDING_MS <= figures[key] <= measured * (1 + RELATIVE) + ROUNDING_MS, (key, figures)
        assert figures[key] <= figures["max"], "no percentile above the largest value measured"


def test_hdr_percentiles_of_known_values_are_within_their_stated_precision() -> None:
    generator = random.Random(11)
    # 1 µs to 30 s, log-spread: every order of magnitude a burst can give.
    values_ns = [round(10 ** generator.uniform(3, 10.5)) for _ in range(5_000)]
    figures = percentiles_ms(values_ns)
    assert_within_precision(figures, [round(ns / 1000) / 1000 for ns in values_ns])
    assert percentiles_ms([]) == dict.fromkeys(KEYS, None)
    assert percentiles_ms([1_234_567]) == dict.fromkeys(KEYS, 1.235)
    # A one-in-a-thousand outlier is what p99.9 is for: it shows there and in max, not in p99.
    tail = percentiles_ms([10_000_000] * 998 + [900_000_000] * 2)
    assert tail["p99"] == pytest.approx(10.0, rel=RELATIVE) and tail["p99"] >= 10.0, "never below: conservative"
    assert tail["p99_9"] == pytest.approx(900.0, rel=RELATIVE) and tail["max"] == 900.0


def connscope(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )


@pytest.mark.target
def test_run_json_percentiles_match_the_runs_own_records() -> None:
    """Requests spaced 20 ms apart against a 2-slot limit: some served after 50 ms, some
    turned away at once; two latency modes make p50 and p99 differ for real."""
    done = connscope(
        "run",
        "--connections",
        "60",
        "--pattern",
        "rate",
        "--rate",
        "50",
        "--limit-concurrency",
        "2",
        "--handler-ms",
        "50",
        "--loop",
        "asyncio",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    answered = [r["latency_ms"] for c in result["connections"] for r in c["requests"] if r["status"] is not None]
    assert len(answered) == 60 and result["totals"]["ok"] >= 1 and result["totals"]["rejected"] >= 1
    assert_within_precision(result["latency_ms"], answered)
    assert result["latency_ms"]["p99_9"] is not None and result["latency_ms"]["max"] is not None
    connects = [c["connected_ms"] - c["connect_start_ms"] for c in result["connections"]]
    assert_within_precision(result["connect_ms"], connects)
    assert result["latency_ms"]["p50"] < result["latency_ms"]["p99"], "503s in a few ms, served ones after 50"

    # Stored before p99.9 (nearest-rank p50, p90, p99, max; connect without p90): it loads with
    # all five, from its own records.
    before = result | {
        "latency_ms": {k: v for k, v in result["latency_ms"].items() if k != "p99_9"},
        "connect_ms": {k: result["connect_ms"][k] for k in ("p50", "p99", "max")},
    }
    loaded = load(json.dumps(before), 2).model_dump(mode="json")
    for name in ("latency_ms", "connect_ms"):
        assert loaded[name] == pytest.approx(result[name], abs=ROUNDING_MS), name


@pytest.mark.target
def test_the_table_names_all_five_figures() -> None:
    done = connscope("run", "--connections", "3", "--handler-ms", "10", "--loop", "asyncio")
    assert done.returncode == 0, done.stderr
    rows = {
        line.split()[0]: line.split()[1:] for line in done.stdout.splitlines() if line.endswith(tuple("0123456789"))
    }
    for row in ("latency", "connect"):
        assert rows[row][0] == "ms" and rows[row][1::2] == ["p50", "p90", "p99", "p99.9", "max"], rows[row]


def _shown(page: Any, attribute: str) -> dict[str, str]:
    return page.evaluate(
        "a => Object.fromEntries([...document.querySelectorAll(`[${a}]`)]"
        ".map(e => [e.getAttribute(a), e.dataset.value]))",
        attribute,
    )


@pytest.mark.browser
@pytest.mark.target
def test_dashboard_replay_and_cli_show_the_stored_runs_figures(dashboard: str, page: Any, tmp_path: Path) -> None:
    target = start_target(dashboard, {"limit_concurrency": 2, "handler_ms": 40, "loop": "asyncio"})
    page.goto(dashboard)
    page.wait_for_selector(f'#target-status[data-target-id="{target["id"]}"]', timeout=15_000)
    burst = httpx.post(
        f"{dashboard}/api/targets/{target['id']}/bursts",
        json={"connections": 40, "pattern": "rate", "rate": 50},
        timeout=10,
    ).json()
    wait_burst(dashboard, target["id"], burst["id"])
    run_id = wait_run_id(dashboard, target["id"])
    stored = httpx.get(f"{dashboard}/api/runs/{run_id}", timeout=10).json()
    expected = {f"{row}-{key}": stored[f"{row}_ms"][key] for row in ("latency", "connect") for key in KEYS}
    assert all(value is not None for value in expected.values()), expected

    # The live page: the summary after the last change carries the final figures (it is
    # recomputed on its own clock, so one figure may settle a frame after another).
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(
            "e => Object.entries(e).every(([k, v]) =>"
            ' Number(document.querySelector(`[data-count="${k}"]`)?.dataset.value) === v)',
            arg=expected,
            timeout=15_000,
        )
    live = _shown(page, "data-count")
    assert {name: float(live[name]) for name in expected} == expected
    # The histogram's markers sit at those figures: none of its own.
    # (Drawn on the next animation frame after the figures came.)
    page.wait_for_function(
        "want => { const got = window.connscope.live.percentileLabels || [];"
        " return got.length === 5 && got.every(m => m.value === want[m.key]) }",
        arg=stored["latency_ms"],
        timeout=10_000,
    )
    markers = {m["key"]: m["value"] for m in page.evaluate("() => window.connscope.live.percentileLabels")}
    assert markers == stored["latency_ms"]

    page.goto(f"{dashboard}/runs/{run_id}")
    replay = _shown(page, "data-percentile")
    assert {name: float(replay[name]) for name in expected} == expected

    # The command line reads the same store and quotes the same figures.
    out = tmp_path / "report.md"
    done = connscope("report", str(run_id), "-o", str(out))
    assert done.returncode == 0, done.stderr
    reported = json.loads((tmp_path / "report.json").read_text())["result"]
    assert (reported["latency_ms"], reported["connect_ms"]) == (stored["latency_ms"], stored["connect_ms"])
    exported = connscope("export", str(run_id), "--format", "csv", "-o", "-")
    assert exported.returncode == 0, exported.stderr
    header = "\n".join(line for line in exported.stdout.splitlines() if line.startswith("#"))
    figures = " ".join(f"{label}={stored['latency_ms'][key]}" for key, label in zip(KEYS, LABELS, strict=True))
    assert f"# latency ms: {figures}" in header
