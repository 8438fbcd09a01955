"""Reading a recorded run (its JSON, export, replay, a comparison of runs) is a good part of a
second of CPU for a large run, on the loop the burst generator runs on: such reads wait for
the bursts in flight, so that watching one run never distorts the one being recorded."""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

import httpx
import pytest

from app.web.reports import MAX_WAITING
from tests.support import start_target, wait_burst, wait_run_id

pytestmark = pytest.mark.target

HOLD = {"handler": "async", "handler_ms": 1500, "loop": "asyncio"}


def _recorded_then_in_flight(dashboard: str) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """A recorded run's id, then a target whose burst holds its connections 1.5 s: (run id,
    that target, its burst in flight)."""
    target = start_target(dashboard, {"handler_ms": 5, "loop": "asyncio"})
    fired = httpx.post(f"{dashboard}/api/targets/{target['id']}/bursts", json={"connections": 2}, timeout=10)
    wait_burst(dashboard, target["id"], fired.json()["id"])
    recorded = wait_run_id(dashboard, target["id"])
    slow = start_target(dashboard, HOLD)
    burst = httpx.post(f"{dashboard}/api/targets/{slow['id']}/bursts", json={"connections": 2}, timeout=10).json()
    return recorded, slow, burst


def test_a_recorded_run_is_read_after_the_burst_in_flight_ends(dashboard: str) -> None:
    recorded, slow, burst = _recorded_then_in_flight(dashboard)
    # The live view and the target's status are not held back.
    assert httpx.get(f"{dashboard}/api/targets/{slow['id']}", timeout=5).status_code == 200
    asked = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        reads = [
            pool.submit(httpx.get, f"{dashboard}{path}", timeout=30)
            for path in (f"/api/runs/{recorded}", f"/runs/{recorded}", f"/api/runs/{recorded}/export?format=csv")
        ]
        answers = [read.result() for read in reads]
    waited = time.monotonic() - asked
    assert [a.status_code for a in answers] == [200, 200, 200]
    progress = httpx.get(f"{dashboard}/api/targets/{slow['id']}/bursts/{burst['id']}", timeout=5).json()
    assert progress["finished"] == progress["planned"] == 2, "answered only once every connection had finished"
    assert waited >= 1.0, waited


def test_past_a_few_waiting_reads_are_told_to_come_back(dashboard: str) -> None:
    recorded, _, _ = _recorded_then_in_flight(dashboard)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        reads = [pool.submit(httpx.get, f"{dashboard}/api/runs/{recorded}", timeout=30) for _ in range(8)]
        codes = sorted(read.result().status_code for read in reads)
    # At most MAX_WAITING in the queue (the one in its turn among them); the rest are refused
    # at once, told when to come back.
    assert codes.count(200) == MAX_WAITING and codes.count(429) == 8 - MAX_WAITING, codes
