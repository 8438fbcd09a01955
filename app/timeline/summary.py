"""Figures computed from connection records: totals, peaks, percentiles (HDR histogram, see
app/timeline/histogram.py). Nothing estimated."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import accumulate, count, repeat
from operator import and_, lshift, sub

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
    running = RunningPeaks()
    return running.peaks(derived, horizon_ns=0)


def _edges(changes: Sequence[tuple[State, int]], into: dict[State, list[int]]) -> None:
    """Each stay in a peak state as its two edges, `2t + 1` entering and `2t` leaving: sorted
    as plain integers, leaving comes before entering at the same instant, so a hand-over
    within one nanosecond is not counted as two at once."""
    if not changes:
        return
    for (state, t), nxt in zip(changes, [*changes[1:], None], strict=True):
        edges = into.get(state)
        if edges is None:
            continue
        edges.append(2 * t + 1)
        if nxt is not None:
            edges.append(2 * nxt[1])


def _sweep(edges: list[int], level: int, best: int) -> tuple[int, int]:
    """The level after `edges` (sorted in place) and the highest it reached."""
    edges.sort()
    # After k edges of which e entered, the level has moved by e - (k - e) = 2e - k: every
    # step in C, no Python code per edge.
    entered = accumulate(map(and_, edges, repeat(1)), initial=0)
    moved = list(map(sub, map(lshift, entered, repeat(1)), count()))
    return level + moved[-1], max(best, level + max(moved))


class RunningPeaks:
    """`peaks` for records that keep changing: a settled record's changes are folded into
    running levels once, and each call sweeps only the rest.

    The levels cover every edge before a frontier; the caller names a horizon no open
    record (nor one still to come) has a change before, and folded edges before it are
    swept into the levels for good. A folded record that changes after all (late evidence)
    is `refold`ed: the levels are then rebuilt from every folded record."""

    def __init__(self) -> None:
        self._folded: dict[int, Sequence[tuple[State, int]]] = {}
        self._reset()

    def _reset(self) -> None:
        self._frontier_ns = 0
        self._levels = dict.fromkeys(PEAK_STATES, 0)
        self._best = dict.fromkeys(PEAK_STATES, 0)
        self._pending: dict[State, list[int]] = {s: [] for s in PEAK_STATES}
        """Edges of folded records at or after the frontier, not yet in the levels."""

    def folded(self, record_id: int) -> Sequence[tuple[State, int]] | None:
        return self._folded.get(record_id)

    def fold(self, record_id: int, changes: Sequence[tuple[State, int]]) -> None:
        """A settled record's changes, all at or after the last horizon."""
        self._folded[record_id] = changes
        _edges(changes, self._pending)

    def refold(self, record_id: int, changes: Sequence[tuple[State, int]]) -> None:
        """A folded record whose changes turned out different."""
        self._folded[record_id] = changes
        self._reset()
        for folded in self._folded.values():
            _edges(folded, self._pending)

    def peaks(self, open_changes: Iterable[Sequence[tuple[State, int]]], horizon_ns: int) -> dict[str, int]:
        """The peaks over every folded record and `open_changes`, none of which (nor any
        record yet to come) has a change before `horizon_ns`."""
        horizon = 2 * max(horizon_ns, self._frontier_ns)
        for state, pending in self._pending.items():
            before = [edge for edge in pending if edge < horizon]
            if before:
                self._levels[state], self._best[state] = _sweep(before, self._levels[state], self._best[state])
                self._pending[state] = [edge for edge in pending if edge >= horizon]
        self._frontier_ns = horizon // 2
        rest: dict[State, list[int]] = {s: list(pending) for s, pending in self._pending.items()}
        for changes in open_changes:
            _edges(changes, rest)
        return {state.value: _sweep(rest[state], self._levels[state], self._best[state])[1] for state in PEAK_STATES}


def queue_peak(samples: Sequence[AcceptQueueSample], start_ns: int, end_ns: int) -> int | None:
    """The longest the kernel saw the accept queue in the window; None when it was never
    sampled there (a witness that failed must not read as an empty queue)."""
    return max((s.length for s in samples if start_ns <= s.t_ns <= end_ns), default=None)


def answered_ns(request: RequestRecord) -> int | None:
    """A request's latency when it got a response: what the latency figures count."""
    return request.latency_ns if request.status is not None else None


def connect_ns(record: ConnectionRecord) -> int | None:
    """From connect() to established: what the connect figures count."""
    if record.connected_ns is None or record.connect_start_ns is None:
        return None
    return record.connected_ns - record.connect_start_ns


def latency_ms(records: Sequence[ConnectionRecord]) -> dict[str, float | None]:
    """From each request's intended start to its outcome, over requests that got a response."""
    return percentiles_ms(t for rec in records for r in rec.requests if (t := answered_ns(r)) is not None)


def connect_ms(records: Sequence[ConnectionRecord]) -> dict[str, float | None]:
    """From connect() to established."""
    return percentiles_ms(t for r in records if (t := connect_ns(r)) is not None)


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
