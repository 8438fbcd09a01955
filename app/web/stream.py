"""Fan-out of timeline changes to any number of viewers, as JSON frames.

Changes are batched into at most ~30 frames a second, ~15 while the loop is saturated (a
burst's client shares it, and each frame costs it a send per viewer). Every viewer has a
small queue; a viewer that falls behind has its queue dropped and is sent a fresh snapshot
instead, so a slow browser never slows a burst nor makes memory grow.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from app.frames import LATENCY_EDGES_MS, Delta, Gauges, Row, Snapshot, Summary
from app.timeline import summary
from app.timeline.histogram import RunningPercentiles
from app.timeline.model import ConnectionRecord, Outcome, State
from app.timeline.timeline import Timeline

FRAME_INTERVAL_S = 1 / 30
BUSY_FRAME_INTERVAL_S = 1 / 15
BUSY_SHARE = 0.5
"""A loop thread on the CPU for this much of a frame interval is saturated (a burst's
client shares it); serving 50 viewers alone takes well under it..."""
BUSY_HOLD_S = 0.5
"""...and is taken to be for this long after, so the cadence does not flip every frame."""
HISTORY_POINTS = 4000
VIEWER_QUEUE_FRAMES = 30
SUMMARY_INTERVAL_S = 0.5
WALK_SHARE = 40
STATUS_INTERVAL_S = 0.2
SETTLE_NS = 1_000_000_000


def record_view(record: ConnectionRecord) -> tuple[State | None, Outcome | None, int]:
    """Where a record's dot belongs: its state, its outcome once closed, when it last moved."""
    changes = _recent(record).states()
    if not changes:
        return None, None, record.intended_ns
    state, t_ns = changes[-1]
    outcome = None
    if state is State.CLOSED:
        outcome = next((r.outcome for r in reversed(record.requests) if r.outcome is not None), None)
    return state, outcome, t_ns


def _recent(record: ConnectionRecord) -> ConnectionRecord:
    """The record with only what its last state can depend on: a keep-alive connection
    with thousands of requests would otherwise be derived whole on every frame. Spans and
    requests follow one another in time, so the last state comes from the last two of each;
    the first request stays for the first response byte, which can prove ownership."""
    if len(record.app_spans) <= 2 and len(record.requests) <= 3:
        return record
    return replace(record, app_spans=record.app_spans[-2:], requests=[record.requests[0], *record.requests[-2:]])


def _settled(record: ConnectionRecord, now_ns: int) -> bool:
    """Closed by the client, and the server's last report in (its close) or a second gone
    by: its states should not change again (and are folded again if they do)."""
    closed = record.client_closed_ns
    return closed is not None and (record.server_closed_ns is not None or now_ns - closed > SETTLE_NS)


@dataclass(eq=False)
class Viewer:
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(VIEWER_QUEUE_FRAMES))
    needs_snapshot: bool = True


@dataclass
class Stream:
    """One per experiment: turns the timeline's changes into frames for its viewers."""

    timeline: Timeline
    status: Callable[[], Mapping[str, object]]
    origin_ns: int = field(default_factory=time.monotonic_ns)
    """The clock of the frames' `t_ms`: the experiment's start."""
    viewers: set[Viewer] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._views: dict[int, tuple[State | None, Outcome | None, int]] = {}
        self._outcomes: dict[int, list[Outcome]] = {}
        self._dirty: dict[int, ConnectionRecord] = {}
        # The summary kept up as records change: a settled record is folded in once, so a
        # walk costs the records changed since the last one, not the whole session.
        self._changed_since_summary: set[int] = set()
        self._open: dict[int, list[tuple[State, int]]] = {}
        """Each unsettled record's derived state changes, as of the last walk."""
        self._peaks = summary.RunningPeaks()
        self._latency = RunningPercentiles()
        self._connect = RunningPercentiles()
        self._requests_in: dict[int, int] = {}
        """How many of each record's requests (all finished, in order) the latency figures hold."""
        self._connected_in: set[int] = set()
        self._latency_counts = [0] * len(LATENCY_EDGES_MS)
        """Measured latencies per bucket since the last delta."""
        self._latency_totals = [0] * len(LATENCY_EDGES_MS)
        """Every measured latency per bucket, for a snapshot."""
        self._summary: Summary = {}
        self._summary_at = 0.0
        self._summary_cost = 0.0
        self._queue_peak: int | None = None
        self._status: Mapping[str, object] | None = None
        self._status_at = 0.0
        self._status_sent: Mapping[str, object] | None = None
        """The status the last delta carried; None until one does (or after a snapshot)."""
        self._queue_seen = 0
        self.history: list[list[float]] = []
        self.counts = {s.value: 0 for s in State}
        self.totals = {"requests": 0} | {o.value: 0 for o in Outcome}
        for record in self.timeline.records:
            self._on_change(record)
        self.timeline.listeners.append(self._on_change)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.timeline.listeners.remove(self._on_change)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def join(self) -> Viewer:
        viewer = Viewer()
        self.viewers.add(viewer)
        return viewer

    def leave(self, viewer: Viewer) -> None:
        self.viewers.discard(viewer)

    def _on_change(self, record: ConnectionRecord) -> None:
        self._dirty[record.id] = record
        self._changed_since_summary.add(record.id)

    def _apply(self) -> list[Row]:
        """Folds dirty records into the running counts; returns their changes."""
        changes: list[Row] = []
        for cid, record in self._dirty.items():
            old_state, _, _ = self._views.get(cid, (None, None, 0))
            view = self._views[cid] = record_view(record)
            state, outcome, t_ns = view
            if old_state is not None:
                self.counts[old_state.value] -= 1
            if state is not None:
                self.counts[state.value] += 1
            seen = self._outcomes.setdefault(cid, [])
            # Requests end in order: only those after the ones already counted can be new.
            finished = [r for r in record.requests[len(seen) :] if r.outcome is not None]
            for request in finished:
                assert request.outcome is not None
                seen.append(request.outcome)
                self.totals["requests"] += 1
                self.totals[request.outcome.value] += 1
                if (latency := summary.answered_ns(request)) is not None:
                    bucket = max(0, bisect.bisect_right(LATENCY_EDGES_MS, latency / 1e6) - 1)
                    self._latency_counts[bucket] += 1
                    self._latency_totals[bucket] += 1
            changes.append(self._change(cid, record, view))
        self._dirty.clear()
        if changes:
            self._record_history()
        return changes

    def _record_history(self) -> None:
        """Counts per state over time, so a viewer who joins late still gets the chart."""
        t_ms = round((time.monotonic_ns() - self.origin_ns) / 1e6, 1)
        self.history.append([t_ms, *(self.counts[s.value] for s in State)])
        if len(self.history) > HISTORY_POINTS:
            # Halve the resolution of the past rather than forget it.
            self.history = self.history[::2]

    def _change(self, cid: int, record: ConnectionRecord, view: tuple[State | None, Outcome | None, int]) -> Row:
        state, outcome, t_ns = view
        return (
            cid,
            record.burst,
            state.value if state else None,
            outcome.value if outcome else None,
            round((t_ns - self.origin_ns) / 1e6, 3),
            record.worker_pid,
        )

    def _gauges(self) -> Gauges:
        samples = self.timeline.queue_samples
        last = samples[-1] if samples else None
        return {
            "t_ms": round((time.monotonic_ns() - self.origin_ns) / 1e6, 3),
            "counts": self.counts,
            "totals": self.totals,
            "queue": {"length": last.length, "capacity": last.capacity} if last else None,
        }

    def _target_status(self, fresh: bool = False) -> Mapping[str, object]:
        """The target's status, built again at most every STATUS_INTERVAL_S: a whole view
        with every burst's progress, which at 30 frames a second took 1-2% of the loop."""
        now = time.monotonic()
        if fresh or self._status is None or now - self._status_at >= STATUS_INTERVAL_S:
            self._status = self.status()
            self._status_at = now
        return self._status

    def snapshot(self) -> str:
        self._apply()
        target = self._target_status(fresh=True)
        if target != self._status_sent:
            # Those who join now and those who had the last delta's status differ: the next
            # delta carries it, whatever it is.
            self._status_sent = None
        connections = [self._change(r.id, r, self._views[r.id]) for r in self.timeline.records]
        frame: Snapshot = {
            "type": "snapshot",
            **self._gauges(),
            "target": target,
            "connections": connections,
            "latency_edges_ms": list(LATENCY_EDGES_MS),
            "latency_counts": list(self._latency_totals),
            "summary": self._refresh_summary(force=True),
            "history": {"states": [s.value for s in State], "points": self.history},
        }
        return json.dumps(frame)

    def _refresh_summary(self, force: bool = False) -> Summary:
        now = time.monotonic()
        # A walk derives every record changed since the last one on the loop the client runs
        # on (in a keep-alive burst, every connection and all its requests): at most every
        # half second, and less often when one walk is costly, so walks never take over
        # 1/WALK_SHARE of the loop the burst shares.
        if force or now - self._summary_at >= max(SUMMARY_INTERVAL_S, WALK_SHARE * self._summary_cost):
            self._summary = self._walk()
            self._summary_cost = time.monotonic() - now
            self._summary_at = now
        # Between two exact walks a peak must not show below the count on screen now.
        exact = self._summary["peaks"]
        peaks: dict[str, int | None] = {
            name: max(level or 0, self.counts.get(name, 0)) for name, level in exact.items()
        }
        samples = self.timeline.queue_samples
        if len(samples) > self._queue_seen:
            # None until the kernel was sampled: an unmeasured queue is not an empty one.
            self._queue_peak = max(self._queue_peak or 0, max(s.length for s in samples[self._queue_seen :]))
            self._queue_seen = len(samples)
        # The kernel's own count, next to the records' `queued`: the two witnesses side by side.
        return {**self._summary, "peaks": peaks | {"accept_queue": self._queue_peak}}

    def _walk(self) -> Summary:
        """The exact figures of every record, as `summary` computes them for a result."""
        now_ns = time.monotonic_ns()
        for cid in self._changed_since_summary:
            record = self.timeline.record(cid)
            if record is None:
                continue
            self._fold_requests(record)
            folded = self._peaks.folded(cid)
            if folded is None:
                self._open[cid] = record.states()
            else:
                changes = record.states()
                if changes != folded:
                    # Late evidence changed a record thought settled: fold it again.
                    self._peaks.refold(cid, changes)
        self._changed_since_summary.clear()
        horizon_ns = now_ns
        for cid in list(self._open):
            record = self.timeline.records[cid]
            if _settled(record, now_ns):
                self._peaks.fold(cid, self._open.pop(cid))
            elif record.connect_start_ns is not None:
                # An open record's changes all come at or after its connect().
                horizon_ns = min(horizon_ns, record.connect_start_ns)
        return {
            "latency_ms": self._latency.figures(),
            "connect_ms": self._connect.figures(),
            "peaks": dict(self._peaks.peaks(self._open.values(), horizon_ns)),
        }

    def _fold_requests(self, record: ConnectionRecord) -> None:
        """Adds a record's newly finished requests (and its connect, once) to the figures:
        a finished request's times never change, and requests finish in order."""
        if record.id not in self._connected_in and record.connected_ns is not None:
            self._connected_in.add(record.id)
            if (connect := summary.connect_ns(record)) is not None:
                self._connect.add(connect)
        start = end = self._requests_in.get(record.id, 0)
        for request in record.requests[start:]:
            if request.outcome is None:
                break
            if (latency := summary.answered_ns(request)) is not None:
                self._latency.add(latency)
            end += 1
        self._requests_in[record.id] = end

    async def _run(self) -> None:
        last_gauges: tuple[object, ...] = ()
        interval = FRAME_INTERVAL_S
        busy_until = 0.0
        asleep, cpu = time.monotonic(), time.thread_time()
        while True:
            await asyncio.sleep(interval)
            # With 50 viewers a frame is 50 sends (and 50 wake-ups of their readers), paid
            # for by the burst that saturates the loop: frames then come half as often. A
            # change still waits at most one busy interval and the loop's lateness.
            woke, cpu_now = time.monotonic(), time.thread_time()
            if cpu_now - cpu > BUSY_SHARE * (woke - asleep):
                busy_until = woke + BUSY_HOLD_S
            interval = BUSY_FRAME_INTERVAL_S if woke < busy_until else FRAME_INTERVAL_S
            asleep, cpu = woke, cpu_now
            if not self.viewers:
                self._apply()
                self._latency_counts = [0] * len(LATENCY_EDGES_MS)
                continue
            changes = self._apply()
            joining = [v for v in self.viewers if v.needs_snapshot]
            if joining:
                snapshot = self.snapshot()
                for viewer in joining:
                    self._offer(viewer, snapshot)
            gauges = self._gauges()
            target = self._target_status()
            # The summary is recomputed on its own clock, so the one after the last change
            # differs from what was sent and goes out even when nothing else moved.
            summary_now = self._refresh_summary()
            # Copies: the counts and totals are updated in place.
            fingerprint = (
                dict(gauges["counts"]),
                dict(gauges["totals"]),
                gauges["queue"],
                target,
                summary_now,
            )
            if not changes and fingerprint == last_gauges:
                continue
            last_gauges = fingerprint
            delta: Delta = {
                "type": "delta",
                "t_ms": gauges["t_ms"],
                "counts": gauges["counts"],
                "totals": gauges["totals"],
                "queue": gauges["queue"],
                "changes": changes,
                "latency_counts": self._latency_counts if any(self._latency_counts) else [],
                "summary": summary_now,
            }
            # ~1.7 KB that 50 viewers would parse 30 times a second: only when it changed.
            if self._status_sent is None or (target is not self._status_sent and target != self._status_sent):
                delta["target"] = target
                self._status_sent = target
            frame = json.dumps(delta)
            self._latency_counts = [0] * len(LATENCY_EDGES_MS)
            for viewer in self.viewers.difference(joining):
                self._offer(viewer, frame)

    @staticmethod
    def _offer(viewer: Viewer, frame: str) -> None:
        try:
            viewer.queue.put_nowait(frame)
            viewer.needs_snapshot = False
        except asyncio.QueueFull:
            # Behind by a second of frames: drop them all, resync with a snapshot.
            while not viewer.queue.empty():
                viewer.queue.get_nowait()
            viewer.needs_snapshot = True
