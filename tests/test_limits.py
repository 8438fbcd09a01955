"""What uvicorn's limits really do, counted on real targets (asyncio loop pinned)."""

from __future__ import annotations

import pytest

from app.numbers import ms_text
from tests.conftest import outcomes, run_burst, run_scenario, state_names, time_in

pytestmark = [pytest.mark.target]


def test_limit_concurrency_n_serves_n_minus_one_at_once() -> None:
    result, finding = run_scenario("off-by-one")
    # The connection whose request is being admitted is already in uvicorn's set of
    # connections, so `len(connections) >= limit` trips at N - 1 requests in flight.
    assert outcomes(result) == ["ok", "ok", "rejected", "rejected", "rejected", "rejected"]
    assert result["peaks"]["active"] == 2
    assert finding.startswith("With limit_concurrency=3, at most 2 requests ran at once")
    assert finding.endswith("2 served, 4 rejected.")


def test_idle_keep_alive_connections_use_up_the_limit() -> None:
    # Each connection sends one request, idles 1.5 s (under timeout_keep_alive), then sends
    # another. While connections 1 and 2 idle, nothing is active, yet 3 and 4 get 503.
    result, finding = run_scenario("keep-alive-idle")
    first, second, third, fourth = result["connections"]
    assert [r["outcome"] for r in first["requests"]] == ["ok", "ok"]
    assert [r["outcome"] for r in second["requests"]] == ["ok", "ok"]
    assert [r["outcome"] for r in third["requests"]] == ["rejected"]
    assert [r["outcome"] for r in fourth["requests"]] == ["rejected"]
    assert result["peaks"]["active"] == 1
    # keep-alive: accepted → active → accepted → active on one connection
    assert state_names(first).count("active") == 2
    assert finding.startswith("While 2 keep-alive connections sat idle")
    assert "2 new requests got 503" in finding
    # The bins count connections (2 in "200 ok"), the counters requests (4 ok): the finding
    # says which is which, from the run's totals.
    totals = result["totals"]
    assert (totals["ok"], totals["requests"], totals["connections"]) == (4, 6, 4)
    assert finding.endswith("4 of 6 requests were served, on 2 connections.")


def test_keep_alive_timeout_closes_idle_connections() -> None:
    result = run_burst(
        {"handler": "async", "handler_ms": 10, "timeout_keep_alive": 0.5, "loop": "asyncio"},
        {"connections": 2, "pattern": "rate", "rate": 10, "requests_per_connection": 2, "pause_ms": 1500},
    )
    for connection in result["connections"]:
        first, second = connection["requests"]
        assert first["outcome"] == "ok"
        # uvicorn closed the idle connection after 0.5 s; the second request finds it gone.
        assert second["outcome"] == "reset"


def test_limit_max_requests_target_exits_later_connections_refused() -> None:
    result, finding = run_scenario("max-requests")
    assert result["target"]["state"] == "exited"
    got = outcomes(result)
    assert got[:3] == ["ok"] * 3
    assert got.count("ok") == 3
    assert got[-1] == "refused", "nothing listens once the target has exited"
    assert set(got[3:]) <= {"refused", "reset"}
    assert finding.startswith("uvicorn served 3 requests (limit_max_requests=3) and exited (exit status 0); ")
    refused = got.count("refused")
    assert (f"{refused} later connection was" if refused == 1 else f"{refused} later connections were") in finding


def test_sync_handler_thread_pool_is_a_hidden_limit() -> None:
    # 60 requests at once, no limit_concurrency; each `def` endpoint sleeps 1 s in the
    # thread pool, which runs 40 at a time (anyio's default).
    result, finding = run_scenario("thread-pool")
    assert result["totals"]["ok"] == 60
    latencies = sorted(c["requests"][0]["latency_ms"] for c in result["connections"])
    first_wave = [ms for ms in latencies if ms < 1800]
    second_wave = [ms for ms in latencies if ms >= 1800]
    assert len(first_wave) == 40
    assert len(second_wave) == 20
    assert all(ms < 3500 for ms in second_wave)
    assert "40 finished after about" in finding and "and 20 after about" in finding
    assert "the thread pool ran at most 40 def endpoints at a time." in finding
    peaks = result["peaks"]
    longest = max(time_in(c, "queued") for c in result["connections"])
    shown = f"{ms_text(longest)} ms"
    # Both witnesses of the backlog, each with its own figure from the run.
    assert finding.endswith(
        f"up to {peaks['queued']} connections were in the backlog at once, each for at most "
        f"{shown} ({peaks['accept_queue']} in the kernel's samples, a few ms apart)."
    )
