"""The live contract: the JSON frames the stream sends to viewers over `/ws`.

Times (`t_ms`) are ms from the experiment's start (`Experiment.origin_ns`), one clock for
every burst of a target; a run's result and the connection endpoint count from their
burst's start instead, and each burst's status gives that start on this clock
(`started_ms`), so a viewer can line the two up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NotRequired, TypedDict

LATENCY_EDGES_MS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)
"""The live latency histogram's buckets, 1-2-5 steps from 0.1 ms to 100 s: a bucket holds
latencies from its edge up to the next; below the first counts in the first. The frames
carry counts per bucket, not every latency: a keep-alive burst answers thousands of
requests a second, and each viewer would parse every one of them."""

Row = tuple[int, int, str | None, str | None, float, int | None]
"""[connection id, burst id, state, outcome or null, t_ms of its last change, pid of the
worker that took it or null]; the id is the record's own (`ConnectionRecord.id`), as in the
result and the API."""


class Queue(TypedDict):
    """The kernel's last sample of the accept queue."""

    length: int
    capacity: int


class Summary(TypedDict, total=False):
    """Exact figures, recomputed at most every 0.5 s, less often while one recomputation is
    costly (at most 1/40 of the dashboard's loop); empty before there is a target."""

    latency_ms: dict[str, float | None]
    connect_ms: dict[str, float | None]
    peaks: dict[str, int | None]


class History(TypedDict):
    states: list[str]
    points: list[list[float]]
    """[t_ms, count per state in `states` order…]"""


class Gauges(TypedDict):
    t_ms: float
    counts: dict[str, int]
    totals: dict[str, int]
    queue: Queue | None


class Elsewhere(TypedDict):
    """Where the dashboard's experiment is watched while no live target has it."""

    what: Literal["comparison", "sweep"]
    href: str
    running: bool
    """False once it has ended: an audience is pointed at its results, a presenter is not held."""


class Snapshot(Gauges):
    """Sent to a viewer that joins or is resynced: every row and the chart's history (none
    before there is a target)."""

    type: Literal["snapshot"]
    target: Mapping[str, object] | None
    """The target's status as `GET /api/targets/{id}` gives it, built for the snapshot."""
    connections: list[Row]
    latency_edges_ms: list[float]
    latency_counts: list[int]
    """Every measured latency so far, per bucket of `latency_edges_ms`."""
    summary: Summary
    history: NotRequired[History]


class ElsewhereSnapshot(Snapshot):
    """The snapshot with no target while a comparison or a sweep has the dashboard."""

    elsewhere: Elsewhere


class Delta(Gauges):
    """Sent every 1/30 s when a row or a gauge changed: only what changed."""

    type: Literal["delta"]
    target: NotRequired[Mapping[str, object] | None]
    """The target's status, built at most 0.2 s before the frame: only when it changed
    since the last delta (or the first delta after a snapshot); absent means unchanged."""
    changes: list[Row]
    latency_counts: list[int]
    """Latencies measured since the last delta, per bucket; empty when there are none."""
    summary: Summary
