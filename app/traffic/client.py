"""One client connection: raw non-blocking socket, httptools parser, every step stamped.

Raw sockets rather than an HTTP library, because the client must know exactly when
connect() completed and which errno ended a request; those are the client's testimony.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import time

import httptools

from app.kernel.tcp_info import TcpState, read_tcp_info
from app.timeline.model import ConnectionRecord, Outcome, RequestRecord, classify_response
from app.timeline.timeline import Timeline
from app.witness_protocol import APP_HEADER

_APP_HEADER = APP_HEADER.encode()
DRIBBLE_HZ = 10
"""How often a slow client writes the next piece of its request's headers."""


class _Response:
    """httptools callbacks for one response."""

    __slots__ = ("complete", "from_app", "close")

    def __init__(self) -> None:
        self.complete = False
        self.from_app = False
        self.close = False

    def on_header(self, name: bytes, value: bytes) -> None:
        lname = name.lower()
        if lname == _APP_HEADER:
            self.from_app = True
        elif lname == b"connection" and value.lower() == b"close":
            self.close = True

    def on_message_complete(self) -> None:
        self.complete = True


def _request_bytes(method: str, path: str, port: int, last: bool) -> bytes:
    close = b"Connection: close\r\n" if last else b""
    body = b"Content-Length: 0\r\n" if method == "POST" else b""
    return b"%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: connscope\r\n%s%s\r\n" % (
        method.encode(),
        path.encode(),
        port,
        body,
        close,
    )


def _pieces(data: bytes, over_s: float) -> list[tuple[float, bytes]]:
    """A request cut into pieces written over `over_s` seconds, the last (which ends the
    headers) at `over_s`: (delay from the first, bytes)."""
    count = max(2, min(len(data), round(over_s * DRIBBLE_HZ) + 1))
    size = -(-len(data) // count)
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    step = over_s / (len(chunks) - 1)
    return [(i * step, chunk) for i, chunk in enumerate(chunks)]


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, type(exc).__name__)


async def run_connection(
    timeline: Timeline,
    record: ConnectionRecord,
    sock: socket.socket,
    server_port: int,
    requests: int,
    paths: list[str],
    timeout_ns: int,
    pause_s: float = 0.0,
    method: str = "GET",
    slow_s: float | None = None,
) -> None:
    """Drives one connection to its end; the record is already in the timeline. `paths`
    has one path per request; a slow client (`slow_s`) dribbles each request's headers."""
    loop = asyncio.get_running_loop()
    request = RequestRecord(index=0, start_ns=record.intended_ns, path=paths[0])
    record.requests.append(request)
    exchange: _Exchange | None = None
    try:
        record.connect_start_ns = time.monotonic_ns()
        started = sock.connect_ex(("127.0.0.1", server_port))
        if port := sock.getsockname()[1]:
            timeline.port_chosen(record, port)
        # On loopback the whole handshake usually completes inside connect(): the kernel
        # says so at once, and waiting for the loop to notice would measure the loop.
        if started == 0 or (started == errno.EINPROGRESS and _established(sock)):
            record.connected_ns = time.monotonic_ns()
        timeline.changed(record)
        if record.connected_ns is None:
            try:
                if started not in (0, errno.EINPROGRESS):
                    raise OSError(started, os.strerror(started))
                await asyncio.wait_for(
                    loop.sock_connect(sock, ("127.0.0.1", server_port)),
                    _remaining(request.start_ns + timeout_ns),
                )
            except ConnectionRefusedError:
                _fail(request, Outcome.REFUSED, "ECONNREFUSED")
                return
            except TimeoutError:
                record.syn_retransmits = _retransmits(sock)
                _fail(request, Outcome.TIMEOUT, "connect")
                return
            except OSError as exc:
                _fail(request, _connect_failure(exc), _errno_name(exc))
                return
            record.connected_ns = time.monotonic_ns()
            timeline.changed(record)
        # Nothing has been sent yet, so every retransmission so far was a SYN.
        record.syn_retransmits = _retransmits(sock)
        exchange = _Exchange(loop, timeline, record, server_port, requests, paths, timeout_ns, pause_s, method, slow_s)
        try:
            await loop.create_connection(lambda: exchange, sock=sock)
        except OSError as exc:
            _fail(request, Outcome.RESET, _errno_name(exc))
            return
        await exchange.done
    except asyncio.CancelledError:
        # The burst was cut short: the request in flight ends with a name, never none
        # (the burst writes why into its error).
        current = record.requests[-1]
        if current.outcome is None:
            _fail(current, Outcome.CANCELLED, "cancelled")
        raise
    finally:
        if exchange is None or exchange.transport is None:
            sock.close()
        elif not exchange.finished:
            # Cancelled (the burst or the target stopped): the connection goes with it.
            exchange.abandon()
        if record.client_closed_ns is None:
            record.client_closed_ns = time.monotonic_ns()
        timeline.changed(record)


class _Exchange(asyncio.Protocol):
    """The requests of one connection, driven by the loop's callbacks rather than a task
    awaiting each send and receive: a keep-alive request costs a write, a parse and two
    stamps. One timer per connection enforces every request's deadline: it is re-armed
    only when it fires early, never per request."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        timeline: Timeline,
        record: ConnectionRecord,
        server_port: int,
        requests: int,
        paths: list[str],
        timeout_ns: int,
        pause_s: float,
        method: str,
        slow_s: float | None,
    ) -> None:
        self.loop = loop
        self.timeline = timeline
        self.record = record
        self.requests = requests
        self.timeout_ns = timeout_ns
        self.pause_s = pause_s
        self.done: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.finished = False
        self.slow_s = slow_s
        self.paths = paths
        self._bytes = [
            _request_bytes(method, path, server_port, last=i == requests - 1) for i, path in enumerate(paths)
        ]
        self._request: RequestRecord | None = None
        self._response = _Response()
        self._parser = httptools.HttpResponseParser(self._response)
        self._timer: asyncio.TimerHandle | None = None
        self._gone: str | None = None
        """Why the server side went away between two requests: the next one is still sent
        and meets it, as a client that cannot know would."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, though they are one.
        self.transport = transport  # type: ignore[assignment]
        self._send(self.record.requests[0])

    def _next(self) -> None:
        if self.finished:
            return
        index = len(self.record.requests)
        request = RequestRecord(index=index, start_ns=time.monotonic_ns(), path=self.paths[index])
        self.record.requests.append(request)
        if self._gone is not None:
            self._request = request
            self._end(Outcome.RESET, self._gone)
            return
        self._send(request)

    def _send(self, request: RequestRecord) -> None:
        assert self.transport is not None
        self._request = request
        self._response = _Response()
        self._parser = httptools.HttpResponseParser(self._response)
        if self._timer is None:
            self._arm(request.start_ns + self.timeout_ns)
        data = self._bytes[request.index]
        if self.slow_s:
            pieces = _pieces(data, self.slow_s)
            for i, (delay, piece) in enumerate(pieces):
                self.loop.call_later(delay, self._write_piece, request, piece, i == len(pieces) - 1)
            return
        self.transport.write(data)
        self._written(request)

    def _write_piece(self, request: RequestRecord, piece: bytes, last: bool) -> None:
        if self._request is not request or self.transport is None or self.transport.is_closing():
            return
        self.transport.write(piece)
        if last:
            self._written(request)

    def _written(self, request: RequestRecord) -> None:
        if self._request is request:
            request.sent_ns = time.monotonic_ns()
            self.timeline.changed(self.record)

    def data_received(self, data: bytes) -> None:
        request = self._request
        if request is None:
            return
        if request.first_byte_ns is None:
            request.first_byte_ns = time.monotonic_ns()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._end(Outcome.ERROR, f"bad response: {exc}")
            return
        if not self._response.complete:
            return
        request.done_ns = time.monotonic_ns()
        request.status = self._parser.get_status_code()
        request.from_app = self._response.from_app
        request.outcome = classify_response(request.status, request.from_app)
        self._request = None
        self.timeline.changed(self.record)
        if self._response.close or request.index == self.requests - 1:
            self._finish()
        elif self.pause_s:
            self.loop.call_later(self.pause_s, self._next)
        else:
            self._next()

    def eof_received(self) -> bool | None:
        if self._between_requests():
            # uvicorn closed an idle keep-alive connection: keep our side open, the next
            # request is written and finds it closed.
            self._gone = "EOF"
            return True
        self._end(Outcome.RESET, "EOF")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        reason = _errno_name(exc) if isinstance(exc, OSError) else self._gone or "EOF"
        if self._between_requests():
            self._gone = reason
            return
        self._end(Outcome.RESET, reason)

    def _between_requests(self) -> bool:
        return self._request is None and not self.finished and len(self.record.requests) < self.requests

    def _end(self, outcome: Outcome, reason: str) -> None:
        """The current request fails (if one is under way) and the connection is over."""
        if self._request is not None:
            _fail(self._request, outcome, reason)
            self._request = None
        self._finish(abort=True)

    def abandon(self) -> None:
        self._request = None
        self._finish(abort=True)

    def _finish(self, abort: bool = False) -> None:
        if self.finished:
            return
        self.finished = True
        if self._timer is not None:
            self._timer.cancel()
        assert self.transport is not None
        # Unread bytes or an aborted exchange: close as the socket would, without lingering.
        if abort:
            self.transport.abort()
        else:
            self.transport.close()
        self.record.client_closed_ns = time.monotonic_ns()
        if not self.done.done():
            self.done.set_result(None)

    def _arm(self, deadline_ns: int) -> None:
        self._timer = self.loop.call_later(_remaining(deadline_ns), self._expired)

    def _expired(self) -> None:
        self._timer = None
        request = self._request
        if request is None:
            # Between requests (a pause): the next one arms the timer again.
            return
        deadline = request.start_ns + self.timeout_ns
        if time.monotonic_ns() < deadline:
            self._arm(deadline)
            return
        self._end(Outcome.TIMEOUT, "response")


def _established(sock: socket.socket) -> bool:
    return read_tcp_info(sock).state == TcpState.ESTABLISHED


def _retransmits(sock: socket.socket) -> int:
    return read_tcp_info(sock).total_retrans


def _connect_failure(exc: OSError) -> Outcome:
    if exc.errno == errno.ETIMEDOUT:
        # The kernel gave up retrying the SYN (about two minutes here).
        return Outcome.TIMEOUT
    if exc.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
        return Outcome.RESET
    # Local trouble (no free port, no memory): the client's failure, not the server's.
    return Outcome.ERROR


def _fail(request: RequestRecord, outcome: Outcome, reason: str) -> None:
    request.done_ns = time.monotonic_ns()
    request.outcome = outcome
    request.error = reason


def _remaining(deadline_ns: int) -> float:
    return max(0.0, (deadline_ns - time.monotonic_ns()) / 1e9)
