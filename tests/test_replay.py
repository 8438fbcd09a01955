"""Recorded runs: the run list, replay on the lanes, and the self-contained HTML export."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.export import to_html
from app.result import RunResult
from tests.conftest import time_in
from tests.support import ROOT, wait_burst, wait_run_id

pytestmark = [pytest.mark.browser, pytest.mark.target]


def _counts(page: Any) -> dict[str, int]:
    return page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('[data-count]')]"
        ".map(e => [e.dataset.count, Number(e.dataset.value)]))"
    )


def _expected_at(result: dict[str, Any], t: float) -> dict[str, int]:
    """What the lanes must show at time t, computed here from the run's records."""
    counts = dict.fromkeys(("connecting", "limbo", "queued", "accepted", "active", "closed"), 0)
    for connection in result["connections"]:
        current = [state for state, at in connection["states"] if at <= t]
        if current:
            counts[current[-1]] += 1
    return counts


@pytest.fixture(scope="module")
def recorded(dashboard: str) -> dict[str, Any]:
    """A blocking-handler run: connections sit queued, then active one at a time."""
    target = httpx.post(
        f"{dashboard}/api/targets",
        json={"handler": "blocking", "handler_ms": 300, "backlog": 10, "loop": "asyncio"},
        timeout=60,
    ).json()
    burst = httpx.post(
        f"{dashboard}/api/targets/{target['id']}/bursts",
        json={"connections": 4, "pattern": "rate", "rate": 20},
        timeout=10,
    ).json()
    wait_burst(dashboard, target["id"], burst["id"])
    run_id = wait_run_id(dashboard, target["id"])
    run: dict[str, Any] = httpx.get(f"{dashboard}/api/runs/{run_id}", timeout=10).json()
    return run


def test_every_burst_is_recorded_and_listed(dashboard: str, recorded: dict[str, Any], page: Any) -> None:
    page.goto(f"{dashboard}/runs")
    row = page.locator(f'tr[data-run="{recorded["run_id"]}"]')
    assert "4 conns rate" in row.inner_text()
    assert recorded["totals"]["ok"] == 4


def test_scrubbing_to_a_time_shows_that_moments_states(dashboard: str, recorded: dict[str, Any], page: Any) -> None:
    page.goto(f"{dashboard}/runs/{recorded['run_id']}")
    page.wait_for_function("() => window.connscopeReplay !== undefined")
    # The moment the second connection has waited half its time in the backlog.
    second = recorded["connections"][1]
    queued_at = next(t for state, t in second["states"] if state == "queued")
    moment = queued_at + time_in(second, "queued") / 2
    page.evaluate("t => window.connscopeReplay.show(t)", moment)
    counts = _counts(page)
    expected = _expected_at(recorded, moment)
    assert {k: counts[k] for k in expected} == expected
    assert counts["queued"] >= 1 and counts["active"] == 1
    assert int(page.locator('[data-lane="backlog"]').inner_text()) == expected["queued"]

    # Stepping forward lands exactly on the next state change.
    changes = sorted({t for c in recorded["connections"] for _, t in c["states"]})
    following = next(t for t in changes if t > moment)
    page.keyboard.press("ArrowRight")
    now = float(page.locator("#replay-scrub").input_value())
    assert now == pytest.approx(following, abs=1e-3)
    assert {k: _counts(page)[k] for k in expected} == _expected_at(recorded, following)


def test_exported_html_replays_from_file_with_networking_off(
    recorded: dict[str, Any], browser: Any, tmp_path: Path
) -> None:
    exported = tmp_path / "run.html"
    exported.write_text(to_html(RunResult.model_validate(recorded)))
    context = browser.new_context(offline=True)
    try:
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(exported.as_uri())
        page.wait_for_function("() => window.connscopeReplay !== undefined", timeout=10_000)
        end = max(t for c in recorded["connections"] for _, t in c["states"])
        page.evaluate("t => window.connscopeReplay.show(t)", end)
        counts = _counts(page)
        assert counts["closed"] == 4 and counts["ok"] == recorded["totals"]["ok"]
        assert errors == []
        assert all(url.startswith("file://") or url.startswith("data:") for url in requests), requests
        assert json.loads(page.locator("#connscope-run").text_content())["totals"] == recorded["totals"]
    finally:
        context.close()


def _record(dashboard: str, settings: dict[str, Any], burst: dict[str, Any]) -> int:
    """A real burst on a real target from the dashboard; its recorded run id."""
    target = httpx.post(f"{dashboard}/api/targets", json=settings, timeout=60).json()
    fired = httpx.post(f"{dashboard}/api/targets/{target['id']}/bursts", json=burst, timeout=10).json()
    wait_burst(dashboard, target["id"], fired["id"])
    return wait_run_id(dashboard, target["id"])


def _hover_tip(page: Any, cid: int) -> dict[str, Any]:
    """Points at connection `cid`'s dot and reads the tip it opens."""
    box = page.locator("#lanes").bounding_box()
    dot = page.evaluate("cid => window.connscopeReplay.view.dotPosition(cid)", cid)
    page.mouse.move(box["x"] + dot["x"], box["y"] + dot["y"])
    tip = page.locator("#dot-tip")
    assert tip.is_visible()
    rows = tip.locator(".tip-requests tbody tr:not(.tip-requests__note)")
    return {
        "heading": tip.locator(".dot-tip__head").inner_text(),
        "client": tip.locator("[data-client]").get_attribute("data-client"),
        "paths": rows.locator(".tip-requests__path").all_inner_texts(),
        "outcomes": [rows.nth(i).get_attribute("data-outcome") for i in range(rows.count())],
    }


def test_a_replayed_connections_tip_shows_its_client_kind_and_paths_as_of_the_moment(dashboard: str, page: Any) -> None:
    run_id = _record(
        dashboard,
        {"handler": "async", "handler_ms": 20, "loop": "asyncio"},
        {
            "connections": 6,
            "pattern": "rate",
            "rate": 20,
            "mix": "normal:50,slow:50",
            "slow_s": 0.4,
            "paths": "/a:50,/b?q=1:50",
            "seed": 7,
        },
    )
    run = httpx.get(f"{dashboard}/api/runs/{run_id}", timeout=10).json()
    connections = run["connections"]
    assert {c["client"] for c in connections} == {"normal", "slow"}
    assert {r["path"] for c in connections for r in c["requests"]} == {"/a", "/b?q=1"}
    page.goto(f"{dashboard}/runs/{run_id}")
    page.wait_for_function("() => window.connscopeReplay !== undefined")

    # At the end: each connection's own kind, and each request's path and outcome, as recorded.
    end = max(t for c in connections for _, t in c["states"])
    page.evaluate("t => window.connscopeReplay.show(t)", end)
    for cid, connection in enumerate(connections):
        shown = _hover_tip(page, cid)
        assert shown["heading"].startswith(f"connection {connection['id']}")
        assert shown["client"] == connection["client"] and f"{connection['client']} client" in shown["heading"]
        assert shown["paths"] == [r["path"] for r in connection["requests"]]
        assert shown["outcomes"] == [r["outcome"] for r in connection["requests"]]

    # Midway through a slow client's request: its path is known, its outcome is not yet.
    cid, slow = next((i, c) for i, c in enumerate(connections) if c["client"] == "slow")
    request = slow["requests"][0]
    page.mouse.move(0, 0)
    page.evaluate("t => window.connscopeReplay.show(t)", (request["start_ms"] + request["done_ms"]) / 2)
    shown = _hover_tip(page, cid)
    assert shown["client"] == "slow"
    assert shown["paths"] == [request["path"]] and shown["outcomes"] == ["pending"]
    page.keyboard.press("Escape")
    assert page.locator("#dot-tip").is_hidden()


def test_csv_has_each_requests_times_and_the_settings_in_its_header(dashboard: str, recorded: dict[str, Any]) -> None:
    response = httpx.get(f"{dashboard}/api/runs/{recorded['run_id']}/export", params={"format": "csv"}, timeout=10)
    assert response.status_code == 200
    lines = response.text.splitlines()
    header = [line for line in lines if line.startswith("#")]
    assert lines[: len(header)] == header, "the comments come first"
    target_line = next(line for line in header if line.startswith("# target: "))
    for pair in (
        "handler=blocking",
        "handler_ms=300.0",
        "backlog=10",
        "loop=asyncio",
        "workers=1",
        "limit_concurrency=none",
    ):
        assert pair in target_line.split(), (pair, target_line)
    burst_line = next(line for line in header if line.startswith("# burst: "))
    for pair in ("connections=4", "pattern=rate", "rate=20.0"):
        assert pair in burst_line.split(), (pair, burst_line)
    rows = list(csv.DictReader(lines[len(header) :]))
    assert len(rows) == recorded["totals"]["requests"] == 4
    for column in (
        "intended_start_ms",
        "connect_start_ms",
        "connected_ms",
        "first_byte_ms",
        "outcome",
        "error",
        "latency_ms",
    ):
        assert column in rows[0], column
    # 20 arrivals a second from the burst's start: due at 0, 50, 100 and 150 ms.
    assert sorted(float(r["intended_start_ms"]) for r in rows) == pytest.approx([0, 50, 100, 150], abs=0.01)
    for row in rows:
        intended, start, connected = (float(row[k]) for k in ("intended_start_ms", "connect_start_ms", "connected_ms"))
        first_byte, done, latency = (float(row[k]) for k in ("first_byte_ms", "done_ms", "latency_ms"))
        assert intended <= start + 1 and start <= connected <= first_byte <= done
        # The latency runs from the intended start: a late connect counts against the server.
        assert latency == pytest.approx(done - float(row["request_start_ms"]), abs=0.01)
        assert float(row["request_start_ms"]) == pytest.approx(intended, abs=0.01)
        assert row["outcome"] == "ok" and row["error"] == ""
    # The blocking handler serves one at a time: each first byte at least 300 ms after the last.
    bytes_at = sorted(float(r["first_byte_ms"]) for r in rows)
    assert all(b - a >= 290 for a, b in zip(bytes_at, bytes_at[1:], strict=False)), bytes_at


def test_runs_list_and_replay_header_show_workers_pattern_and_rate(
    dashboard: str, recorded: dict[str, Any], page: Any
) -> None:
    page.goto(f"{dashboard}/runs")
    row = page.locator(f'tr[data-run="{recorded["run_id"]}"]')
    assert row.locator("[data-workers]").inner_text() == "1"
    assert row.locator("[data-arrivals]").inner_text() == "rate 20/s"
    listed = next(r for r in httpx.get(f"{dashboard}/api/runs", timeout=10).json() if r["id"] == recorded["run_id"])
    assert (listed["workers"], listed["pattern"], listed["rate"]) == (1, "rate", 20.0)
    page.goto(f"{dashboard}/runs/{recorded['run_id']}")
    what = page.locator("[data-what]").inner_text()
    assert "workers=1" in what and "4 connections, rate 20/s" in what


def test_replay_bins_are_laid_out_for_the_final_tally_and_never_move(
    dashboard: str, recorded: dict[str, Any], page: Any
) -> None:
    page.goto(f"{dashboard}/runs/{recorded['run_id']}")
    page.wait_for_function("() => window.connscopeReplay !== undefined")
    bins = ("ok", "rejected", "error", "refused", "reset", "timeout")

    def boxes() -> dict[str, Any]:
        lanes = page.evaluate("() => window.connscopeReplay.view.describe().lanes")
        return {key: lanes[key]["area"] for key in bins}

    end = max(t for c in recorded["connections"] for _, t in c["states"])
    page.evaluate("() => window.connscopeReplay.show(0)")
    at_start = boxes()
    for fraction in (0.3, 0.6, 1.0):
        page.evaluate("t => window.connscopeReplay.show(t)", end * fraction)
        assert boxes() == at_start, fraction
    # Laid out for 4 ok from the start: the ok bin is the tall one even before any closed.
    assert at_start["ok"]["h"] > 2 * at_start["rejected"]["h"]


def test_replay_shows_the_finding_without_scrolling_at_1440x900(dashboard: str, browser: Any) -> None:
    # A guided scenario, run headless and recorded into the dashboard's store.
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "run", "--scenario", "off-by-one", "--record"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    run_id = int(re.search(r"recorded as run (\d+)", done.stderr).group(1))  # type: ignore[union-attr]
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{dashboard}/runs/{run_id}")
        page.wait_for_function("() => window.connscopeReplay !== undefined")
        finding = page.locator("[data-finding]")
        assert "served" in finding.inner_text() or "503" in finding.inner_text()
        box = finding.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 900, box
        assert page.evaluate("() => window.scrollY") == 0
    finally:
        context.close()


def test_a_run_is_deleted_from_the_list_after_a_confirmation(dashboard: str, page: Any) -> None:
    run_id = _record(
        dashboard, {"handler_ms": 10, "loop": "asyncio"}, {"connections": 2, "pattern": "rate", "rate": 20}
    )
    page.goto(f"{dashboard}/runs")
    row = page.locator(f'tr[data-run="{run_id}"]')
    row.locator("[data-delete-run]").click()
    dialog = page.locator("#delete-run-dialog")
    dialog.wait_for(state="visible", timeout=5_000)
    assert f"Delete run {run_id}?" in dialog.inner_text()
    # Cancel (and Esc) keep it.
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="hidden", timeout=5_000)
    row.locator("[data-delete-run]").click()
    dialog.wait_for(state="visible", timeout=5_000)
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden", timeout=5_000)
    assert row.count() == 1
    assert httpx.get(f"{dashboard}/api/runs/{run_id}", timeout=10).status_code == 200

    row.locator("[data-delete-run]").click()
    dialog.get_by_role("button", name="Delete").click()
    row.wait_for(state="detached", timeout=10_000)
    assert httpx.get(f"{dashboard}/api/runs/{run_id}", timeout=10).status_code == 404
    page.reload()
    assert page.locator(f'tr[data-run="{run_id}"]').count() == 0

    # From its replay: back to the list, without it.
    other = _record(dashboard, {"handler_ms": 10, "loop": "asyncio"}, {"connections": 1})
    page.goto(f"{dashboard}/runs/{other}")
    page.locator("[data-delete-run]").click()
    page.locator("#delete-run-dialog").get_by_role("button", name="Delete").click()
    page.wait_for_url(f"{dashboard}/runs", timeout=10_000)
    assert page.locator(f'tr[data-run="{other}"]').count() == 0
    assert httpx.get(f"{dashboard}/runs/{other}", timeout=10).status_code == 404


def test_delete_api_and_cli_say_no_such_run_in_one_line(dashboard: str) -> None:
    run_id = _record(dashboard, {"handler_ms": 10, "loop": "asyncio"}, {"connections": 1})
    cli = [sys.executable, "-m", "app.cli", "runs", "delete"]
    done = subprocess.run([*cli, str(run_id)], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stderr.strip() == f"deleted run {run_id}"
    assert httpx.get(f"{dashboard}/api/runs/{run_id}", timeout=10).status_code == 404
    again = subprocess.run([*cli, str(run_id)], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert again.returncode == 2
    assert again.stderr.startswith(f"connscope: error: no run {run_id} in ") and again.stderr.count("\n") == 1
    bad = subprocess.run([*cli, "seven"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    response = httpx.delete(f"{dashboard}/api/runs/{run_id}", timeout=10)
    assert response.status_code == 404 and response.json() == {"detail": f"no run {run_id}"}
