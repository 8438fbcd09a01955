"""workers > 1: each uvicorn process has its own slots and its own accept(); the kernel's
listener counters; all on real targets."""

from __future__ import annotations

from typing import Any

import pytest

from app.kernel.accept_queue import AcceptQueueSample
from app.sandbox.isolation import netns_unavailable_reason
from app.timeline.model import ConnectionRecord, State
from app.timeline.summary import peaks, queue_peak
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
    # A blocking handler: a worker whose loop is held cannot accept, so the second arrival
    # (25 ms after the first) is the other worker's. With an async one both stay free and the
    # kernel may wake the same worker for every arrival.
    result = run_burst(
        {"workers": 2, "handler": "blocking", "handler_ms": 300, "loop": "asyncio", "http": "h11"},
        {"connections": 16, "pattern": "rate", "rate": 40, "client_timeout_s": 15},
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


def test_uvloop_records_never_queue_more_than_the_kernel_held() -> None:
    # uvloop accepts in C (no `taken`); a blocking handler keeps connection_made late, so
    # only the kernel's sightings bound the time in the queue.
    for _ in range(2):
        result = run_burst(
            {"workers": 2, "handler": "blocking", "handler_ms": 200, "loop": "uvloop"},
            {"connections": 16, "pattern": "burst", "client_timeout_s": 15},
        )
        assert result["totals"]["ok"] == 16
        assert all(c["taken_ms"] is None for c in result["connections"])
        assert result["peaks"]["accept_queue"] is not None
        assert result["peaks"]["queued"] <= result["peaks"]["accept_queue"]
        for connection in result["connections"]:
            states = [state for state, _ in connection["states"]]
            if "queued" in states:
                assert states[states.index("queued") + 1] == "accepted", states


def test_an_unwitnessed_accept_is_queued_only_while_the_kernel_saw_it_queued() -> None:
    ms = 1_000_000
    rec = ConnectionRecord(id=0, port=1, burst=1, index=0, intended_ns=0, connect_start_ns=0)
    rec.connected_ns = 1 * ms
    # Dumps from 2 to 2.5 ms and from 4 to 4.5 ms saw it queued, one from 6 ms saw it owned:
    # it was queued at least until the second dump began.
    rec.kernel_sighting(2 * ms, 2 * ms + ms // 2, State.QUEUED)
    rec.kernel_sighting(4 * ms, 4 * ms + ms // 2, State.QUEUED)
    rec.kernel_sighting(6 * ms, 6 * ms + ms // 2, State.ACCEPTED)
    rec.accepted_ns = 50 * ms
    rec.client_closed_ns = 60 * ms
    assert rec.states()[1:3] == [(State.QUEUED, 1 * ms), (State.ACCEPTED, 4 * ms)]
    # connection_made before the last sighting's dump began bounds it.
    rec.accepted_ns = 3 * ms
    assert rec.states()[1:3] == [(State.QUEUED, 1 * ms), (State.ACCEPTED, 3 * ms)]
    rec.accepted_ns = 50 * ms
    # With accept() witnessed, its stamp ends the queue.
    rec.taken_ns = 5 * ms
    assert rec.states()[1:3] == [(State.QUEUED, 1 * ms), (State.ACCEPTED, 5 * ms)]


def test_the_last_dump_before_a_change_still_saw_the_connection_queued() -> None:
    ms = 1_000_000
    timeline = Timeline()
    rec = ConnectionRecord(id=0, port=40_000, burst=1, index=0, intended_ns=0, connect_start_ns=0)
    timeline.add(rec)
    rec.connected_ns = 1 * ms
    # The sampler sends only changes: queued in the dump from 2 ms, nothing new in the one
    # from 4 ms, owned in the one from 6 ms.
    timeline.kernel_sample(2 * ms, 3 * ms, None, {40_000: "queued"})
    timeline.kernel_sample(4 * ms, 5 * ms, None, {})
    timeline.kernel_sample(6 * ms, 7 * ms, None, {40_000: "accepted"})
    rec.accepted_ns = 50 * ms
    rec.client_closed_ns = 60 * ms
    assert rec.states()[1:3] == [(State.QUEUED, 1 * ms), (State.ACCEPTED, 4 * ms)]


def test_a_slow_dump_does_not_stretch_one_record_over_the_next() -> None:
    # Under load a dump can take 10 ms (its thread preempted). A was queued when the dump
    # from 10 ms began (the listener read 1) and taken during it; B connected after that
    # read, before the dump ended, and the next dump saw it alone (the listener read 1).
    # The queue never held both, so neither may the records.
    ms = 1_000_000
    timeline = Timeline()
    a = ConnectionRecord(id=0, port=40_000, burst=1, index=0, intended_ns=0, connect_start_ns=0)
    b = ConnectionRecord(id=1, port=40_001, burst=1, index=1, intended_ns=0, connect_start_ns=0)
    for rec in (a, b):
        timeline.add(rec)
    a.connected_ns = 5 * ms
    b.connected_ns = 15 * ms
    timeline.kernel_sample(10 * ms, 20 * ms, AcceptQueueSample(10 * ms, 1, 16), {40_000: "queued"})
    timeline.kernel_sample(21 * ms, 22 * ms, AcceptQueueSample(21 * ms, 1, 16), {40_000: "accepted", 40_001: "queued"})
    timeline.kernel_sample(30 * ms, 31 * ms, AcceptQueueSample(30 * ms, 0, 16), {40_001: "accepted"})
    for rec in (a, b):
        rec.accepted_ns = 40 * ms
        rec.client_closed_ns = 60 * ms
    records_peak = peaks(rec.states() for rec in (a, b))["queued"]
    assert records_peak <= queue_peak(timeline.queue_samples, 0, 60 * ms) == 1
    assert b.states()[1:3] == [(State.QUEUED, 15 * ms), (State.ACCEPTED, 21 * ms)]


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
