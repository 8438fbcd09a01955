"""Firing a burst: schedule every connection at its due time and run them all."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.timeline.model import ConnectionRecord, Outcome, RequestRecord
from app.timeline.timeline import Timeline
from app.traffic.client import run_connection
from app.traffic.spec import BurstSpec


@dataclass
class Burst:
    id: int
    spec: BurstSpec
    server_port: int
    started_ns: int = 0
    ended_ns: int | None = None
    records: list[ConnectionRecord] = field(default_factory=list)
    finished_connections: int = 0
    cancelled: str | None = None
    """Why the burst was cut short (e.g. "superseded by target 3"), set before it is."""
    make_socket: Callable[[], socket.socket] = socket.socket

    def __post_init__(self) -> None:
        # Fixed here, so the run records the seed its random choices were made with.
        self.spec = self.spec.seeded()


async def fire(burst: Burst, timeline: Timeline) -> None:
    """Runs the burst to its end. Every connection ends by its own client timeout, so this
    returns within the arrival span plus, per connection, its requests' timeouts and pauses."""
    spec = burst.spec
    timeout_ns = round(spec.client_timeout_s * 1e9)
    burst.started_ns = time.monotonic_ns() + 5_000_000
    kinds, paths = spec.client_kinds(), spec.request_paths()
    tasks = [
        asyncio.create_task(
            _one(burst, timeline, index, burst.started_ns + offset, timeout_ns, kinds[index], paths[index])
        )
        for index, offset in enumerate(spec.offsets_ns())
    ]
    try:
        # One connection's failure is that connection's outcome, never the whole burst's.
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        burst.ended_ns = time.monotonic_ns()
        _name_cancellations(burst, timeline)


def _name_cancellations(burst: Burst, timeline: Timeline) -> None:
    """Each request cut short says why its burst was."""
    for record in burst.records:
        cut = [r for r in record.requests if r.outcome is Outcome.CANCELLED]
        for request in cut:
            request.error = burst.cancelled or request.error
        if cut:
            timeline.changed(record)


async def _one(
    burst: Burst, timeline: Timeline, index: int, due_ns: int, timeout_ns: int, kind: str, paths: list[str]
) -> None:
    # The loop may wake a timer up to its clock resolution early: a connection never starts
    # before its arrival time, or its connect would be stamped before its intended start.
    while (delay := (due_ns - time.monotonic_ns()) / 1e9) > 0:
        await asyncio.sleep(delay)
    try:
        sock = burst.make_socket()
    except OSError as exc:
        _client_failure(burst, timeline, index, due_ns, f"client socket: {exc}", kind, paths[0])
        return
    try:
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        _client_failure(burst, timeline, index, due_ns, f"client socket: {exc}", kind, paths[0])
        return
    # No bind() first: connect() chooses the port, and only connect() may recycle a port
    # still in TIME_WAIT on loopback (`tcp_tw_reuse`); every client close leaves its port
    # there for 60 s, so bound ports run out after ~28,000 connections. The port is told to
    # the timeline as soon as connect() returns, before the loop runs anything else.
    record = ConnectionRecord(
        id=timeline.next_id(), port=0, burst=burst.id, index=index, intended_ns=due_ns, client=kind
    )
    burst.records.append(record)
    timeline.add(record)
    try:
        await run_connection(
            timeline,
            record,
            sock,
            burst.server_port,
            burst.spec.requests_per_connection,
            paths,
            timeout_ns,
            burst.spec.pause_ms / 1000,
            burst.spec.method,
            burst.spec.slow_s if kind == "slow" else None,
        )
    finally:
        burst.finished_connections += 1


def _client_failure(
    burst: Burst, timeline: Timeline, index: int, due_ns: int, reason: str, kind: str, path: str
) -> None:
    """The client could not even make its socket (out of files, ports): an `error`, counted."""
    now = time.monotonic_ns()
    record = ConnectionRecord(
        id=timeline.next_id(),
        port=0,
        burst=burst.id,
        index=index,
        intended_ns=due_ns,
        connect_start_ns=now,
        client_closed_ns=now,
        client=kind,
    )
    record.requests.append(RequestRecord(0, due_ns, done_ns=now, outcome=Outcome.ERROR, error=reason, path=path))
    burst.records.append(record)
    timeline.records.append(record)
    timeline.changed(record)
    burst.finished_connections += 1
