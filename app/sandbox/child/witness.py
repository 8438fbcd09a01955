"""The server witness: uvicorn's own protocols and the app, reporting what they do.

The subclasses only add a report after uvicorn has done its work, so uvicorn's behaviour,
including the connection counting that `limit_concurrency` reads, is unchanged.
"""

from __future__ import annotations

import asyncio
import socket
from multiprocessing import reduction
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.sandbox.child.channel import channel
from app.witness_protocol import ACCEPTED, CLOSED, ENTER, LEAVE, READY, TAKEN

ASGIApp = Any


class _Reporting(asyncio.Protocol):
    """Put before uvicorn's protocol class: reports after uvicorn's connection_made (which
    sets up its own state) and before its connection_lost."""

    client: tuple[str, int] | None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._report(ACCEPTED)

    def connection_lost(self, exc: Exception | None) -> None:
        self._report(CLOSED)
        super().connection_lost(exc)

    def _report(self, code: int) -> None:
        events = channel()
        if events is not None:
            # The peer uvicorn's connection_made read (its `client`): asking the transport
            # again costs a getpeername() under uvloop, twice per connection.
            events.emit(code, self.client[1] if self.client else 0)


class InstrumentedH11Protocol(_Reporting, H11Protocol):
    """uvicorn's h11 protocol, reporting accepted and closed."""


class InstrumentedHttpToolsProtocol(_Reporting, HttpToolsProtocol):
    """uvicorn's httptools protocol, reporting accepted and closed."""


class WitnessedListener(socket.socket):
    """The listening socket as asyncio's selector loop uses it: reports when accept() takes
    a connection out of the kernel's queue, which can be long before connection_made runs
    when the loop is busy. uvloop accepts in C and never calls this."""

    def accept(self) -> tuple[socket.socket, Any]:
        conn, address = super().accept()
        events = channel()
        if events is not None:
            events.emit(TAKEN, int(address[1]))
        return conn, address


def _rebuild_listener(dup: Any, family: int, kind: int, proto: int) -> WitnessedListener:
    return WitnessedListener(family, kind, proto, fileno=dup.detach())


def _reduce_listener(sock: WitnessedListener) -> tuple[Any, tuple[Any, ...]]:
    return _rebuild_listener, (reduction.DupFd(sock.fileno()), sock.family, sock.type, sock.proto)


# uvicorn hands the listening socket to each spawned worker by pickling it, and
# multiprocessing rebuilds any socket as a plain `socket.socket`: registered here, every
# worker gets a WitnessedListener, so accept() is witnessed in each of them.
reduction.ForkingPickler.register(WitnessedListener, _reduce_listener)


PROTOCOLS: dict[str, type[asyncio.Protocol]] = {
    "h11": InstrumentedH11Protocol,
    "httptools": InstrumentedHttpToolsProtocol,
}


class AppWitness:
    """ASGI wrapper: a request is `active` from entering the app until the app returns.

    uvicorn's admission-control 503 never reaches the configured app, so a request seen
    here is by definition one that held a concurrency slot. It runs on every request the
    target serves, so it does no more than report: two records, no wrapped `send` (the
    status the app answers is the client's to see).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        events = channel()
        if events is None:
            await self.app(scope, receive, send)
            return
        kind = scope["type"]
        if kind == "http":
            client = scope.get("client")
            port = int(client[1]) if client else 0
            events.emit(ENTER, port)
            try:
                await self.app(scope, receive, send)
            finally:
                events.emit(LEAVE, port)
            return
        if kind == "lifespan":
            events.emit(READY, 0)
        await self.app(scope, receive, send)
