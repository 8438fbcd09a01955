"""Figures computed from connection records: totals, peaks, percentiles (HDR histogram, see
app/timeline/histogram.py). Nothing estimated."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from app.kernel.accept_queue import AcceptQueueSample
from app.timeline.histogram import percentiles_ms
from app.timeline.model import ConnectionRecord, Outcome, RequestRecord, State, state_at

OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)
PEAK_STATES: tuple[State, ...] = (State.CONNECTING, State.LIMBO, State.QUEUED, State.ACCEPTED, State.ACTIVE)


def totals(records: Sequence[ConnectionRecord]) -> dict[str, int]:
    counts = {"connections": len(records), "requests": 0} | {o.value: 0 for o in OUTCOMES}
    for record in records:
        for request in record.requests:
            if request.outcome is None:
                continue
            counts["requests"] += 1
            counts[request.outcome.value] += 1
    return counts


def current_counts(records: Sequence[ConnectionRecord]) -> dict[str, int]:
    """How many connections are in each state right now."""
    counts = {s.value: 0 for s in State}
    for record in records:
        state = record.state
        if state is not None:
            counts[state.value] += 1
    return counts


def peaks(derived: Iterable[Sequence[tuple[State, int]]]) -> dict[str, int]:
    """The most connections that were in each state at the same moment, from each record's
    derived state changes."""
    deltas: dict[State, list[tuple[int, int]]] = {s: [] for s in PEAK_STATES}
    for changes in derived:
        for (state, t), nxt in zip(changes, [*changes[1:], None], strict=True):
            if state not in deltas:
                continue
            deltas[state].append((t, 1))
            if nxt is not None:
                # Leaving is sorted before entering at the same instant, so a hand-over
                # within one nanosecond is not counted as two at once.
                deltas[state].append((nxt[1], -1))
    result: dict[str, int] = {}
    for state, items in deltas.items():
        items.sort(key=lambda item: (item[0], item[1]))
        level = best = 0
        for _, delta in items:
            level += delta
            best = max(best, level)
        result[state.value] = best
    return result


def queue_peak(samples: Sequence[AcceptQueueSample], start_ns: int, end_ns: int) -> int | None:
    """The longest the kernel saw the accept queue in the window; None when it was never
    sampled there (a witness that failed must not read as an empty queue)."""
    return max((s.length for s in samples if start_ns <= s.t_ns <= end_ns), default=None)


def latency_ms(records: Sequence[ConnectionRecord]) -> dict[str, float | None]:
    """From each request's intended start to its outcome, over requests that got a response."""
    return percentiles_ms(
        r.latency_ns for rec in records for r in rec.requests if r.latency_ns is not None and r.status is not None
    )


def connect_ms(records: Sequence[ConnectionRecord]) -> dict[str, float | None]:
    """From connect() to established."""
    return percentiles_ms(
        r.connected_ns - r.connect_start_ns
        for r in records
        if r.connected_ns is not None and r.connect_start_ns is not None
    )


def timeout_state(changes: Sequence[tuple[State, int]], request: RequestRecord) -> State | None:
    """Where a timed-out request's connection was when the client gave up."""
    if request.outcome is not Outcome.TIMEOUT or request.done_ns is None:
        return None
    # The client closes right after giving up: look just before that moment.
    return state_at(changes, request.done_ns - 1)


def timeouts_by_state(derived: Iterable[tuple[ConnectionRecord, Sequence[tuple[State, int]]]]) -> dict[State, int]:
    counts: dict[State, int] = {}
    for record, changes in derived:
        for request in record.requests:
            state = timeout_state(changes, request)
            if state is not None:
                counts[state] = counts.get(state, 0) + 1
    return counts


WORKER_PEAK_STATES: tuple[State, ...] = (State.ACCEPTED, State.ACTIVE)


def per_worker(
    derived: Sequence[tuple[ConnectionRecord, Sequence[tuple[State, int]]]], pids: Iterable[int] = ()
) -> list[dict[str, object]]:
    """Totals and peaks of each uvicorn process, by the worker that took each connection.
    `pids` lists workers that took none, so an idle worker shows as one. A connection no
    worker took (refused, or reset or timed out in the queue) counts for none of them."""
    groups: dict[int, list[tuple[ConnectionRecord, Sequence[tuple[State, int]]]]] = {pid: [] for pid in pids}
    for record, changes in derived:
        if record.worker_pid is not None:
            groups.setdefault(record.worker_pid, []).append((record, changes))
    result = []
    for pid in sorted(groups):
        mine = groups[pid]
        levels = peaks(changes for _, changes in mine)
        result.append(
            {
                "pid": pid,
                "totals": totals([record for record, _ in mine]),
                "peaks": {state.value: levels[state.value] for state in WORKER_PEAK_STATES},
            }
        )
    return result


QUEUE_WAIT_EDGES_MS: tuple[float, ...] = (0, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
"""Lower edges of the accept-queue wait histogram: 1-2-5 steps that read as round numbers."""


def queue_waits_ms(derived: Iterable[Sequence[tuple[State, int]]]) -> list[float]:
    """Each connection's time in `queued` (all visits), for every connection that got
    through the handshake: a connection that never waited counts as 0."""
    waits = []
    for changes in derived:
        if not any(state in (State.QUEUED, State.LIMBO, State.ACCEPTED) for state, _ in changes):
            continue
        ns = sum(nxt[1] - t for (state, t), nxt in zip(changes, changes[1:], strict=False) if state is State.QUEUED)
        waits.append(ns / 1e6)
    return waits


def histogram(values: Iterable[float], edges: Sequence[float]) -> list[int]:
    """Counts per bucket [edge k, edge k+1); the last bucket is open-ended."""
    counts = [0] * len(edges)
    for value in values:
        k = next((k for k in range(len(edges) - 1, -1, -1) if value >= edges[k]), 0)
        counts[k] += 1
    return counts
