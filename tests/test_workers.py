"""workers > 1: each uvicorn process has its own slots and its own accept(); the kernel's
listener counters; all on real targets."""

from __future__ import annotations

from typing import Any

import pytest

from app.sandbox.isolation import netns_unavailable_reason
from app.timeline.model import ConnectionRecord, State
from app.timeline.timeline import Timeline
from tests.conftest import run_burst

pytestmark = [pytest.mark.target]

OUTCOME_KEYS = ("connections", "requests", "ok", "rejected", "error", "refused", "reset", "timeout", "cancelled")


def _per_worker_sum(result: dict[str, Any], key: str) -> int:
    return sum(worker["totals"][key] for worker in result["workers"])


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_two_workers_each_keep_their_own_limit(loop: str) -> None:
    # limit 3 per worker, each request holds its slot 600 ms, arrivals 25 ms apart: each
    # worker fills its own slots, so more than one pool's worth is active at once.
    result = run_burst(
        {"workers": 2, "limit_concurrency": 3, "handler": "async", "handler_ms": 600, "loop": loop, "http": "h11"},
        {"connections": 16, "pattern": "rate", "rate": 40},
    )
    workers = result["workers"]
    assert len(workers) == 2
    pids = {worker["pid"] for worker in workers}
    for connection in result["connections"]:
        assert connection["worker_pid"] in pids, "every connection was taken by one of the target's workers"
    for worker in workers:
        # uvicorn counts the connection being admitted, so a limit of 3 serves 2 at once.
        assert worker["peaks"]["active"] <= 2
    for key in OUTCOME_KEYS:
        assert _per_worker_sum(result, key) == result["totals"][key], key
    assert result["totals"]["ok"] + result["totals"]["rejected"] == 16
    assert result["peaks"]["active"] <= 4


def test_accept_is_witnessed_in_every_worker_with_asyncio() -> None:
    result = run_burst(
        {"workers": 2, "handler": "async", "handler_ms": 300, "loop": "asyncio", "http": "h11"},
        {"connections": 16, "pattern": "rate", "rate": 40},
    )
    served = [c for c in result["connections"] if c["requests"][0]["outcome"] == "ok"]
    assert len(served) == 16
    for connection in served:
        assert connection["taken_ms"] is not None, "accept() reported by the worker that took it"
        accepted_at = next(t for state, t in connection["states"] if state == "accepted")
        assert accepted_at <= connection["taken_ms"] + 0.001
    takers = {c["worker_pid"] for c in served}
    assert takers <= {w["pid"] for w in result["workers"]}
    if len(takers) < 2:
        pytest.fail(f"one worker took all 16 connections: {takers}")


def test_uvloop_records_queue_a_connection_only_until_it_is_accepted() -> None:
    # uvloop accepts in C (no `taken`); a blocking handler keeps connection_made late, so
    # only the kernel's sightings bound the time in the queue. On a quiet machine the
    # records' queued peak stays within the kernel's sampled peak; under load it has passed
    # it (11 against 8 in one CI run: sightings reach the loop late), so that is shown, not
    # asserted. What holds every time: every connection leaves the queue by being accepted.
    for _ in range(2):
        result = run_burst(
            {"workers": 2, "handler": "blocking", "handler_ms": 200, "loop": "uvloop"},
            {"connections": 16, "pattern": "burst", "client_timeout_s": 15},
        )
        assert result["totals"]["ok"] == 16
        assert all(c["taken_ms"] is None for c in result["connections"])
        assert result["peaks"]["accept_queue"] is not None
        for connection in result["connections"]:
            states = [state for state, _ in connection["states"]]
            if "queued" in states:
                assert states[states.index("queued") + 1] == "accepted", states


def test_an_unwitnessed_accept_is_queued_only_while_the_kernel_saw_it_queued() -> None:
    ms = 1_000_000
    rec = ConnectionRecord(id=0, port=1, burst=1, index=0, intended_ns=0, connect_start_ns=0)
    rec.connected_ns = 1 * ms
    rec.kernel_sighting(2 * ms, State.QUEUED)
    rec.kernel_sighting(4 * ms, State.QUEUED)
    rec.kernel_sighting(6 * ms, State.ACCEPTED)
    rec.accepted_ns = 50 * ms
    rec.client_closed_ns = 60 * ms
    assert rec.states()[1:3] == [(State.QUEUED, 1 * ms), (State.ACCEPTED, 4 * ms)]
    # A sighting stamped (at its dump's end) after connection_made: connection_made bounds it.
    rec.accepted_ns = 3 * ms
    assert rec.states()[1:3] == [(State.QUEUED, 1 * ms), (State.ACCEPTED, 3 * ms)]
    rec.accepted_ns = 50 * ms
    # With accept() witnessed, its stamp ends the queue.
    rec.taken_ns = 5 * ms
    assert rec.states()[1:3] == [(State.QUEUED, 1 * ms), (State.ACCEPTED, 5 * ms)]


def test_the_last_sample_before_a_change_still_saw_the_connection_queued() -> None:
    ms = 1_000_000
    timeline = Timeline()
    rec = ConnectionRecord(id=0, port=40_000, burst=1, index=0, intended_ns=0, connect_start_ns=0)
    timeline.add(rec)
    rec.connected_ns = 1 * ms
    # The sampler sends only changes: queued at 2 ms, nothing new at 4 ms, owned at 6 ms.
    timeline.kernel_sample(2 * ms, None, {40_000: "queued"})
    timeline.kernel_sample(4 * ms, None, {})
    timeline.kernel_sample(6 * ms, None, {40_000: "accepted"})
    rec.accepted_ns = 50 * ms
    rec.client_closed_ns = 60 * ms
    assert rec.states()[1:3] == [(State.QUEUED, 1 * ms), (State.ACCEPTED, 4 * ms)]


@pytest.mark.netns
@pytest.mark.skipif(netns_unavailable_reason() is not None, reason="no network namespaces on this machine")
def test_kernel_counters_move_when_the_full_accept_queue_drops_syns() -> None:
    # somaxconn 1 holds 2; the first request blocks the loop 600 ms while the next five
    # arrive 50 ms apart; without SYN cookies the full queue drops their SYNs.
    target = {"backlog": 1, "somaxconn": 1, "tcp_syncookies": 0, "handler": "blocking", "handler_ms": 600}
    result = run_burst(target | {"loop": "asyncio"}, {"connections": 6, "pattern": "rate", "rate": 20})
    counters = result["kernel_counters"]
    assert result["kernel_counters_scope"] == "the experiment's private network namespace"
    assert result["totals"]["ok"] == 6
    retransmitted = sum(c["syn_retransmits"] or 0 for c in result["connections"])
    assert retransmitted >= 2
    # Nothing else connects in the private namespace: every SYN the listener dropped is
    # one a client sent again.
    assert counters["ListenOverflows"] == retransmitted
    assert counters["ListenDrops"] >= counters["ListenOverflows"]
    assert counters["SyncookiesSent"] == counters["TCPReqQFullDoCookies"] == 0

    calm = run_burst(target | {"handler": "async"}, {"connections": 6, "pattern": "rate", "rate": 20})
    assert calm["kernel_counters"]["ListenOverflows"] == 0
    assert all(not c["syn_retransmits"] for c in calm["connections"])
