"""The run contract: a burst's result as `connscope run --json` prints it, the API serves it,
the store keeps it, exports write it and findings quote it. Times are ms from the burst's
start (`Burst.started_ns`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.sandbox.settings import TargetSettings
from app.sandbox.target import TargetState
from app.timeline.histogram import PRECISION, percentiles_ms
from app.timeline.model import ConnectionRecord, Outcome, State
from app.timeline.summary import timeout_state
from app.traffic.spec import BurstSpec

SCHEMA_VERSION = 2
"""2: typed, with connection ids. Runs stored before it are version 1 and load as such."""

StateChange = tuple[State, int]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Request(_Frozen):
    outcome: Outcome | None = Field(description="null: the request never finished (the burst was cut short).")
    status: int | None = Field(description="The HTTP status, when a response came.")
    latency_ms: float | None = Field(description="From the request's intended start to its outcome.")
    start_ms: float | None = Field(None, description="Intended start (version 1 runs may lack the times).")
    sent_ms: float | None = None
    first_byte_ms: float | None = None
    done_ms: float | None = None
    error: str | None = Field(None, exclude_if=lambda v: v is None, description="errno name or short reason.")
    timeout_state: State | None = Field(
        None, exclude_if=lambda v: v is None, description="Where a timed-out request's connection was."
    )
    path: str | None = Field(None, description="The request's path (runs before it lack it).")


class Connection(_Frozen):
    id: int = Field(description="The connection's id, shared by the API, the live stream and the replay.")
    port: int
    burst: int = 1
    syn_retransmits: int | None = None
    intended_ms: float | None = None
    connect_start_ms: float | None = None
    connected_ms: float | None = None
    states: list[tuple[State, float]] = Field(description="[state, ms] in time order.")
    requests: list[Request]
    client: str = Field("normal", description="The client's kind: normal, or slow (dribbles its request headers).")
    worker_pid: int | None = Field(
        None,
        description="The server process that took it, by the pid the host gives it (the control app's pid "
        "namespace: what `ps` shows; not the pid inside the target's own namespace). Null: none did.",
    )
    taken_ms: float | None = Field(
        None, description="When a worker's accept() took it off the queue (null with uvloop, which accepts in C)."
    )

    def time_in(self, state: State | str) -> float:
        """Milliseconds spent in `state`, all visits."""
        changes = self.states
        return sum(nxt[1] - t for (name, t), nxt in zip(changes, changes[1:], strict=False) if name == state)


class TargetInfo(_Frozen):
    port: int
    state: TargetState = Field(description="When the result was built.")
    exit: str = Field(description="e.g. `running`, `exit status 0`, `killed by SIGKILL`.")
    isolation: str
    server: str = Field("uvicorn", description="The server engine (the `server` setting).")
    server_version: str = Field("", description="Its distributions' versions, e.g. `granian 2.8.9`.")
    witnesses: str = Field("", description="What the server witness saw inside this engine.")


class Totals(_Frozen):
    connections: int
    requests: int = Field(description="Requests with an outcome.")
    ok: int
    rejected: int
    error: int
    refused: int
    reset: int
    timeout: int
    cancelled: int = 0


class Peaks(_Frozen):
    """The most connections in each state at one instant; `accept_queue` is the kernel's
    largest sample of the queue in the burst's window (null: never sampled there)."""

    connecting: int
    limbo: int
    queued: int
    accepted: int
    active: int
    accept_queue: int | None


class WorkerPeaks(_Frozen):
    """The most of one worker's connections in each state at one instant; `active` is
    bounded by that worker's own limit_concurrency."""

    accepted: int
    active: int


class Worker(_Frozen):
    """One uvicorn process: what it did with the connections it took."""

    pid: int
    totals: Totals
    peaks: WorkerPeaks


class QueueWait(_Frozen):
    """How long each connection that got through the handshake waited in the accept
    queue (its time in `queued`), as a histogram."""

    edges_ms: list[float] = Field(description="Lower edge of each bucket; the last is open-ended.")
    counts: list[int]
    p50: float | None
    max: float | None


class LatencyPercentiles(_Frozen):
    """In ms; null when nothing was measured."""

    p50: float | None = Field(description=PRECISION)
    p90: float | None = Field(description=PRECISION)
    p99: float | None = Field(description=PRECISION)
    p99_9: float | None = Field(description=PRECISION)
    max: float | None = Field(description="The largest value measured.")


PERCENTILE_LABELS = {"p50": "p50", "p90": "p90", "p99": "p99", "p99_9": "p99.9", "max": "max"}
"""How tables and reports name each figure of `LatencyPercentiles`."""


class RunResult(_Frozen):
    schema_version: int = Field(SCHEMA_VERSION, description="1: stored before the typed contract.")
    run_id: int | None = Field(None, description="Its id in the store, once recorded.")
    scenario: str | None = None
    finding: str | None = Field(None, description="A scenario's finding, or what an interrupted burst showed.")
    settings: TargetSettings
    burst: BurstSpec
    target: TargetInfo
    totals: Totals
    cancelled: str | None = Field(None, description="Why the burst was cut short.")
    peaks: Peaks
    accept_queue_capacity: int | None = Field(description="The kernel's: the backlog capped by somaxconn.")
    kernel_witness_error: str | None = None
    kernel_samples: int
    duration_ms: float
    latency_ms: LatencyPercentiles = Field(
        description="From each request's intended start to its outcome, over requests that got a response."
    )
    connect_ms: LatencyPercentiles = Field(description="From connect() to established.")
    timeouts_by_state: dict[State, int]
    connections: list[Connection]
    workers: list[Worker] = Field(
        default_factory=list,
        description="Per uvicorn process, by pid; a connection no worker took counts for none.",
    )
    kernel_counters: dict[str, int] | None = Field(
        None, description="How the listener's namespace counters moved during the burst (app.kernel.counters)."
    )
    kernel_counters_scope: str | None = Field(
        None, description="Whose counters: the experiment's private namespace, or the host's, shared."
    )
    queue_wait_ms: QueueWait | None = Field(None, description="Time in the accept queue per connection.")

    def with_outcomes(self, outcome: Outcome | str) -> list[Connection]:
        """Connections whose first request ended with `outcome`."""
        return [c for c in self.connections if c.requests and c.requests[0].outcome == outcome]


def load(text: str, version: int) -> RunResult:
    """A stored result of the given schema version as today's model."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("a stored result must be a JSON object")
    if "p99_9" not in (data.get("latency_ms") or {}):
        data |= _percentiles_from_records(data)
    if version >= 2:
        return RunResult.model_validate(data)
    # Version 1 had no connection ids: a connection's position in its result names it.
    for index, connection in enumerate(data.get("connections", [])):
        connection.setdefault("id", index)
    return RunResult.model_validate(data | {"schema_version": 1})


def _percentiles_from_records(data: dict[str, Any]) -> dict[str, Any]:
    """A run stored before the HDR figures gets them from its own records (kept to the µs),
    so it shows the same five as a new one; a figure its records cannot give stays as stored."""
    latencies: list[int] = []
    connects: list[int] = []
    for connection in data.get("connections") or []:
        if not isinstance(connection, dict):
            continue
        start, end = connection.get("connect_start_ms"), connection.get("connected_ms")
        if isinstance(start, int | float) and isinstance(end, int | float):
            connects.append(round((end - start) * 1e6))
        for request in connection.get("requests") or []:
            if isinstance(request, dict) and request.get("status") is not None:
                latency = request.get("latency_ms")
                if isinstance(latency, int | float):
                    latencies.append(round(latency * 1e6))
    figures: dict[str, Any] = {}
    for name, values in (("latency_ms", latencies), ("connect_ms", connects)):
        stored = data.get(name)
        missing: dict[str, Any] = {"p90": None, "p99_9": None}
        figures[name] = percentiles_ms(values) if values else missing | (stored if isinstance(stored, dict) else {})
    return figures


def ms(ns: float | None) -> float | None:
    return None if ns is None else round(ns / 1e6, 3)


def _since(t_ns: int | None, origin_ns: int) -> float | None:
    return None if t_ns is None else ms(t_ns - origin_ns)


def connection(record: ConnectionRecord, changes: Sequence[StateChange], origin_ns: int) -> Connection:
    """A record as the contract has it, from its states derived once by the caller."""
    return Connection(
        id=record.id,
        port=record.port,
        burst=record.burst,
        syn_retransmits=record.syn_retransmits,
        # The client's own times: when the connection was due, when connect() began and ended.
        intended_ms=ms(record.intended_ns - origin_ns),
        connect_start_ms=_since(record.connect_start_ns, origin_ns),
        connected_ms=_since(record.connected_ns, origin_ns),
        states=[(state, round((t - origin_ns) / 1e6, 3)) for state, t in changes],
        requests=[
            Request(
                outcome=r.outcome,
                status=r.status,
                latency_ms=ms(r.latency_ns),
                start_ms=ms(r.start_ns - origin_ns),
                sent_ms=_since(r.sent_ns, origin_ns),
                first_byte_ms=_since(r.first_byte_ns, origin_ns),
                done_ms=_since(r.done_ns, origin_ns),
                error=r.error or None,
                timeout_state=timeout_state(changes, r),
                path=r.path,
            )
            for r in record.requests
        ],
        client=record.client,
        worker_pid=record.worker_pid,
        taken_ms=_since(record.taken_ns, origin_ns),
    )
