"""Report downloads: one render at a time, and a short queue behind it.

A report is seconds of CPU for a large run, and matplotlib's pyplot is not thread-safe. A
download is a GET, which any page can make a browser send: past a few waiting, the rest are
told to come back (429) instead of piling up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import PlainTextResponse

MAX_WAITING = 4
RETRY_AFTER_S = 2


class Busy(Exception):
    """Too many reports already wait for their turn."""


class ReportQueue:
    def __init__(self, max_waiting: int = MAX_WAITING) -> None:
        self.max_waiting = max_waiting
        self._lock = asyncio.Lock()
        self._waiting = 0

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if self._waiting >= self.max_waiting:
            raise Busy
        self._waiting += 1
        try:
            async with self._lock:
                yield
        finally:
            self._waiting -= 1


def busy_response() -> PlainTextResponse:
    return PlainTextResponse(
        "Reports are being written: try again in a few seconds.",
        status_code=429,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def report_queue(request: Request) -> ReportQueue:
    queue: ReportQueue = request.app.state.reports
    return queue
