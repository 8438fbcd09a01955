"""The wire format of server events: one fixed-size binary record per fact, target →
control app. Both sides import this module, so it imports nothing of `app`.

`taken` from the listening socket's accept() (asyncio's loop calls it; uvloop accepts in
C), `accepted`/`closed` from uvicorn's protocol, `enter`/`leave` from the ASGI wrapper,
`ready` once per worker after startup. A record is one `struct.pack` on the target's side
and one step of `iter_unpack` on the control app's, where text lines took an f-string and
an encode there and a split and four int() here.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

# Every response the workload app produces carries this header, so the client can tell the
# app's 503 from uvicorn's admission-control 503.
APP_HEADER = "x-connscope-app"


class ServerEvent(NamedTuple):
    """One fact reported by the instrumented uvicorn inside the target. A named tuple: the
    control app makes tens of thousands a second, at half a frozen dataclass's cost."""

    kind: str  # "taken" | "accepted" | "enter" | "leave" | "closed"
    pid: int
    port: int
    t_ns: int


KINDS = ("ready", "taken", "accepted", "enter", "leave", "closed")
CODES = {kind: code for code, kind in enumerate(KINDS)}
# The codes by name, for the target's hot path: no lookup per event.
READY, TAKEN, ACCEPTED, ENTER, LEAVE, CLOSED = range(len(KINDS))

# kind code, client port, CLOCK_MONOTONIC ns. No pid: each process reports on a connection
# of its own, whose peer the kernel names (SO_PEERCRED), so a record need not say who sent it.
RECORD = struct.Struct("<BHq")


def encode(kind: str, port: int, t_ns: int) -> bytes:
    return RECORD.pack(CODES[kind], port, t_ns)


def decode(data: bytes | bytearray | memoryview, pid: int) -> list[ServerEvent]:
    """Every event in `data`, a whole number of records sent by process `pid`. A record of
    an unknown kind (a bug, not a torn write: the stream carries whole records) is skipped,
    not fatal."""
    if len(data) % RECORD.size:
        raise ValueError(f"server events: {len(data)} bytes is not a whole number of records")
    count, kinds, new = len(KINDS), KINDS, tuple.__new__
    # tuple.__new__ straight, not the named tuple's own __new__: one Python call less per
    # event, a third of the decoding at tens of thousands of events a second.
    return [
        new(ServerEvent, (kinds[code], pid, port, t_ns))
        for code, port, t_ns in RECORD.iter_unpack(data)
        if code < count
    ]
