"""Recorded runs: the run list, replay on the lanes, and the self-contained HTML export."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.export import to_html
from app.scenarios import time_in
from tests.conftest import wait_burst


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
    burst = httpx.post(f"{dashboard}/api/targets/{target['id']}/bursts",
                       json={"connections": 4, "pattern": "rate", "rate": 20}, timeout=10).json()
    wait_burst(dashboard, target["id"], burst["id"])
    # The run is stored just after the burst is done (and the store is shared by the session's
    # dashboards): wait for this burst's own run id rather than take the latest run.
    deadline = time.monotonic() + 30
    while (run_id := httpx.get(f"{dashboard}/api/targets/{target['id']}", timeout=10).json()
           ["bursts"][-1]["run_id"]) is None:
        assert time.monotonic() < deadline, "the burst's run was not recorded"
        time.sleep(0.1)
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
    exported.write_text(to_html(recorded))
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
