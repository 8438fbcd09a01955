"""Heavy reads (reports, exports, replays, comparisons of recorded runs): one at a time, a
short queue behind it, and none while a burst is being measured.

Loading and rendering a large run is a good part of a second of CPU, on the loop (and
under the GIL) the burst generator runs on, and matplotlib's pyplot is not thread-safe. These
are GETs, which any page can make a browser send, and which the audience view may make: past
a few waiting, the rest are told to come back (429) instead of piling up, and a read waits
for the bursts in flight to end, so that watching a recorded run never distorts the one
being recorded (a loop of such GETs moved a recorded p50 from 101 ms to 2.5 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from fastapi import HTTPException, status
from starlette.requests import Request
from starlette.responses import PlainTextResponse

MAX_WAITING = 4
RETRY_AFTER_S = 2
QUIET_WAIT_S = 150.0
"""The longest a read waits for the bursts in flight: past a scheduled burst's cap (120 s)
and its clients' timeouts, something is stuck, and the read goes ahead."""
QUIET_POLL_S = 0.05
BUSY = "Recorded runs are being read or written: try again in a few seconds."


class Busy(Exception):
    """Too many reports already wait for their turn."""


class ReportQueue:
    def __init__(self, max_waiting: int = MAX_WAITING, measuring: Callable[[], bool] = lambda: False) -> None:
        self.max_waiting = max_waiting
        self.measuring = measuring
        """True while a burst is in flight (the app's registry says)."""
        self._lock = asyncio.Lock()
        self._waiting = 0

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if self._waiting >= self.max_waiting:
            raise Busy
        self._waiting += 1
        try:
            async with self._lock:
                deadline = time.monotonic() + QUIET_WAIT_S
                while self.measuring() and time.monotonic() < deadline:
                    await asyncio.sleep(QUIET_POLL_S)
                yield
        finally:
            self._waiting -= 1


def busy_response() -> PlainTextResponse:
    return PlainTextResponse(
        BUSY,
        status_code=429,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def report_queue(request: Request) -> ReportQueue:
    queue: ReportQueue = request.app.state.reports
    return queue


async def heavy_read(request: Request) -> AsyncIterator[None]:
    """A route dependency: the route's work takes a turn in the queue."""
    try:
        async with report_queue(request).turn():
            yield
    except Busy:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, BUSY, headers={"Retry-After": str(RETRY_AFTER_S)}
        ) from None
