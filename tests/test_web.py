"""The dashboard's HTTP side: forms with inline errors, the JSON API, the live stream."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.support import start_target, wait_burst

pytestmark = [pytest.mark.target]

Q1_TARGET = {"limit_concurrency": 3, "handler": "async", "handler_ms": 800, "loop": "asyncio"}
Q1_BURST = {"connections": 6, "pattern": "rate", "rate": 10}


def _ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "/ws"


def _frames_until(ws: Any, done: Any, limit: int = 2000) -> list[dict[str, Any]]:
    frames = []
    for _ in range(limit):
        frame = json.loads(ws.recv(timeout=30))
        frames.append(frame)
        if done(frame):
            return frames
    raise AssertionError("condition never met")


def test_api_rejects_bad_settings_with_readable_422_and_keeps_running_target(dashboard: str) -> None:
    target = start_target(dashboard, {"loop": "asyncio"})
    response = httpx.post(f"{dashboard}/api/targets", json={"backlog": 0}, timeout=10)
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"][-1] == "backlog"
    assert detail["msg"] == "Input should be greater than or equal to 1"
    still = httpx.get(f"{dashboard}/api/targets/{target['id']}", timeout=10).json()
    assert still["state"] == "ready" and still["pid"] == target["pid"]


def test_form_error_is_inline_422_and_never_disturbs_the_target(dashboard: str) -> None:
    target = start_target(dashboard, {"loop": "asyncio"})
    response = httpx.post(f"{dashboard}/targets", data={"backlog": "0", "handler": "async"}, timeout=10)
    assert response.status_code == 422
    html = response.text
    assert 'id="target-backlog-error"' in html
    assert "Must be at least 1." in html
    assert 'value="0"' in html, "the user's input is kept for correction"
    bad_burst = httpx.post(f"{dashboard}/bursts", data={"connections": "-5"}, timeout=10)
    assert bad_burst.status_code == 422
    assert 'id="burst-connections-error"' in bad_burst.text
    still = httpx.get(f"{dashboard}/api/targets/{target['id']}", timeout=10).json()
    assert still["state"] == "ready" and still["pid"] == target["pid"]


def test_burst_via_api_gives_the_same_counts_as_the_cli(dashboard: str) -> None:
    target = start_target(dashboard, Q1_TARGET)
    accepted = httpx.post(f"{dashboard}/api/targets/{target['id']}/bursts", json=Q1_BURST, timeout=10)
    assert accepted.status_code == 202
    result = wait_burst(dashboard, target["id"], accepted.json()["id"])
    assert result["totals"]["ok"] == 2
    assert result["totals"]["rejected"] == 4
    assert httpx.post(f"{dashboard}/api/targets/{target['id']}/bursts", json={"connections": 0}).status_code == 422


def test_stream_snapshot_then_deltas_two_viewers_agree_and_reconnect_resyncs(dashboard: str) -> None:
    target = start_target(dashboard, Q1_TARGET)
    with connect(_ws_url(dashboard)) as first, connect(_ws_url(dashboard)) as second:
        for ws in (first, second):
            opening = json.loads(ws.recv(timeout=10))
            assert opening["type"] == "snapshot"
            assert opening["target"]["id"] == target["id"]
            assert opening["connections"] == []
        burst = httpx.post(f"{dashboard}/api/targets/{target['id']}/bursts", json=Q1_BURST, timeout=10).json()

        def finished(frame: dict[str, Any]) -> bool:
            return frame["totals"].get("requests") == 6

        seen = [_frames_until(ws, finished) for ws in (first, second)]
        for frames in seen:
            assert all(f["type"] == "delta" for f in frames)
            assert frames[-1]["totals"]["ok"] == 2 and frames[-1]["totals"]["rejected"] == 4
        assert seen[0][-1]["totals"] == seen[1][-1]["totals"]
        result = wait_burst(dashboard, target["id"], burst["id"])
        assert seen[0][-1]["totals"]["ok"] == result["totals"]["ok"]

    with connect(_ws_url(dashboard)) as again:
        snapshot = json.loads(again.recv(timeout=10))
        assert snapshot["type"] == "snapshot"
        assert len(snapshot["connections"]) == 6
        outcomes = sorted(row[3] for row in snapshot["connections"])
        assert outcomes == ["ok", "ok", "rejected", "rejected", "rejected", "rejected"]
        assert snapshot["counts"]["closed"] == 6
        cid = snapshot["connections"][0][0]
        detail = httpx.get(f"{dashboard}/api/targets/{target['id']}/connections/{cid}", timeout=10).json()
        assert detail["states"][0][0] == "connecting" and detail["states"][-1][0] == "closed"
        # One id and one clock: the stream's row, the endpoint and the recorded result agree.
        recorded = next(c for c in result["connections"] if c["id"] == cid)
        assert detail["id"] == cid and (detail["port"], detail["states"]) == (recorded["port"], recorded["states"])
        last_change = snapshot["connections"][0][4]
        assert detail["origin_ms"] + detail["states"][-1][1] == pytest.approx(last_change, abs=0.01)
