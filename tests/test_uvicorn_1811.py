"""uvicorn issue #1811, answered by counting what real uvicorn processes and the kernel did.

Each question is a guided scenario (app/scenarios.py): arrivals spaced well apart, handlers
holding a slot for a known time, the target's event loop pinned (asyncio and uvloop accept
differently, and that difference is part of the answer). The test asserts the counts and
that the scenario's finding, written from the run, states them.
"""

from __future__ import annotations

import pytest

from app.numbers import ms_text
from tests.conftest import outcomes, run_burst, run_scenario, state_names, time_in

pytestmark = [pytest.mark.target]


def test_q1_limit_reached_async_handler_rejects_at_once_nothing_waits_in_backlog() -> None:
    # limit 5, 10 arrivals 100 ms apart, each request holds its slot 1.5 s
    result, finding = run_scenario("limit-async")
    # uvicorn counts the connection being admitted, so a limit of 5 serves 4.
    assert outcomes(result) == ["ok"] * 4 + ["rejected"] * 6
    rejected = [c for c in result["connections"] if c["requests"][0]["outcome"] == "rejected"]
    for connection in rejected:
        assert connection["requests"][0]["status"] == 503
        assert connection["requests"][0]["latency_ms"] < 300, "a 503 comes at once, not after a slot frees"
        assert "active" not in state_names(connection), "the app never ran for a rejected request"
        assert time_in(connection, "queued") < 100
    assert result["peaks"]["active"] == 4
    assert result["peaks"]["accept_queue"] <= 1, "the accept queue stays (almost) empty"
    assert finding.startswith("6 of 10 requests got 503 within ")
    # Every connection passes through the accept queue, briefly: the finding says so, with
    # the run's own figures, instead of calling it empty.
    longest = max(time_in(c, "queued") for c in result["connections"])
    # The kernel puts each one in the queue; the records time a stay only when the client's
    # connect stamp comes before the server's accept(), which two processes race for.
    assert longest > 0 and all(time_in(c, "queued") < 100 for c in result["connections"])
    assert (
        f"every connection passed through the backlog (at most {result['peaks']['queued']} at once, "
        f"the longest for {ms_text(longest)} ms) and none waited there."
    ) in finding
    assert finding.endswith("4 were served, at most 4 at once.")


def test_q2_requests_queued_in_backlog_while_loop_blocked_asyncio() -> None:
    # limit 3, backlog 10; the first request blocks the loop for 1 s while 5 more connect
    result, finding = run_scenario("backlog-blocked")
    first, *queued = result["connections"]
    assert first["requests"][0]["outcome"] == "ok"
    for connection in queued:
        assert time_in(connection, "queued") > 300, "waited in the backlog while the loop was blocked"
    # asyncio accepts everything in the queue at once when the loop frees; uvicorn then
    # counts 5 connections against a limit of 3, and turns every queued request away.
    assert outcomes(result)[1:] == ["rejected"] * 5
    # What the records call queued is what the kernel's accept queue held.
    assert result["peaks"]["queued"] == result["peaks"]["accept_queue"] == 5
    assert finding.startswith("5 connections waited in the backlog for up to ")
    assert "5 of them got 503 and 0 were served (asyncio loop)" in finding


def test_q2_requests_queued_in_backlog_while_loop_blocked_uvloop() -> None:
    result = run_burst(
        {"limit_concurrency": 3, "backlog": 10, "handler": "blocking", "handler_ms": 1000, "loop": "uvloop"},
        {"connections": 6, "pattern": "rate", "rate": 10},
    )
    for connection in result["connections"][1:]:
        assert time_in(connection, "queued") > 300
    # uvloop hands the loop one connection's request before accepting the next, so each
    # queued request is served in turn: the limit is never reached.
    assert outcomes(result) == ["ok"] * 6
    assert result["peaks"]["active"] == 1


def test_q3_backlog_full_limit_not_reached_syns_dropped_and_retried() -> None:
    # backlog 2 holds 3; the loop is blocked 500 ms per request; arrivals 50 ms apart
    result, finding = run_scenario("backlog-full")
    assert result["accept_queue_capacity"] == 2
    assert result["peaks"]["accept_queue"] == 3, "Linux holds backlog + 1"
    assert result["peaks"]["queued"] <= 3, "never more queued than the kernel can hold"
    assert outcomes(result) == ["ok"] * 6, "no limit: everyone is served, late"
    waited = [time_in(c, "connecting") for c in result["connections"]]
    # A dropped SYN is sent again after about a second (tcp_syn_linear_timeouts).
    retried = [ms for ms in waited if ms > 900]
    # Two, when the first request holds the loop before the second arrives 50 ms later; one
    # when a fresh process is slower to start it and accepts the second as well.
    assert len(retried) >= 1
    assert all(ms < 3000 for ms in retried)
    assert result["totals"]["rejected"] == 0
    assert finding.startswith("The accept queue filled to 3 (backlog 2 + 1). ")
    dropped = [c for c in result["connections"] if c["syn_retransmits"]]
    assert all(time_in(c, "connecting") > 900 for c in dropped), "a dropped SYN is retried after about 1 s"
    assert len(dropped) == len(retried)
    assert f"{len(dropped)} clients had their SYN dropped" in finding
    assert finding.endswith("6 of 6 were served, 0 got 503.")


def test_q4_backlog_and_limit_both_full() -> None:
    result, finding = run_scenario("both-full")
    totals = result["totals"]
    assert totals["requests"] == 8
    assert totals["ok"] >= 1 and totals["rejected"] >= 1
    assert totals["ok"] + totals["rejected"] == 8, "nobody is refused, reset or left hanging"
    assert result["peaks"]["accept_queue"] == 3
    assert any(time_in(c, "connecting") > 900 for c in result["connections"]), "some SYNs were dropped"
    for connection in result["connections"]:
        if connection["requests"][0]["outcome"] == "rejected":
            assert "active" not in state_names(connection)
    assert f"in the end {totals['ok']} got 200, {totals['rejected']} got 503 and 0 anything else." in finding
