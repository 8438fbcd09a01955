"""Flows a teacher relies on: a scenario tells what happened; Fire twice joins one timeline."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.support import wait_burst

pytestmark = [pytest.mark.browser, pytest.mark.target]


def test_scenario_button_runs_it_and_shows_the_finding_written_from_the_run(dashboard: str, page: Any) -> None:
    page.goto(dashboard)
    page.wait_for_function("() => window.htmx !== undefined && window.uPlot !== undefined", timeout=15_000)
    page.click('[data-scenario="off-by-one"]')
    finding = page.locator("[data-finding]")
    finding.wait_for(timeout=60_000)
    recorded = httpx.get(f"{dashboard}/api/runs", timeout=10).json()[0]
    run = httpx.get(f"{dashboard}/api/runs/{recorded['id']}", timeout=10).json()
    assert run["scenario"] == "off-by-one"
    assert run["finding"] in finding.inner_text()
    assert run["finding"].startswith(f"With limit_concurrency=3, at most {run['peaks']['active']} requests ran")


def test_fire_twice_both_bursts_run_and_join_one_timeline(dashboard: str) -> None:
    target = httpx.post(
        f"{dashboard}/api/targets", json={"limit_concurrency": 50, "handler_ms": 300, "loop": "asyncio"}, timeout=60
    ).json()
    form = {"connections": "5", "pattern": "rate", "rate": "20"}
    first = httpx.post(f"{dashboard}/bursts", data=form, timeout=10)
    second = httpx.post(f"{dashboard}/bursts", data=form, timeout=10)
    assert first.status_code == second.status_code == 200
    bursts = httpx.get(f"{dashboard}/api/targets/{target['id']}", timeout=10).json()["bursts"]
    assert [b["id"] for b in bursts] == [1, 2]
    results = [wait_burst(dashboard, target["id"], b["id"]) for b in bursts]
    assert [r["totals"]["ok"] for r in results] == [5, 5]
    with connect(dashboard.replace("http://", "ws://") + "/ws") as ws:
        snapshot = json.loads(ws.recv(timeout=10))
    assert snapshot["totals"]["ok"] == 10, "the live counters cover both bursts"
    assert sorted({row[1] for row in snapshot["connections"]}) == [1, 2]
