"""One client connection: raw non-blocking socket, httptools parser, every step stamped.

Raw sockets rather than an HTTP library, because the client must know exactly when
connect() completed and which errno ended a request; those are the client's testimony.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
import time

import httptools

from app.sandbox.events import APP_HEADER
from app.timeline.model import ConnectionRecord, Outcome, RequestRecord, classify_response
from app.timeline.timeline import Timeline

RECV_BYTES = 65536
TCP_ESTABLISHED = 1
TCP_INFO_RETRANS_END = 104


class _Response:
    """httptools callbacks for one response."""

    def __init__(self) -> None:
        self.complete = False
        self.from_app = False
        self.close = False

    def on_header(self, name: bytes, value: bytes) -> None:
        lname = name.lower()
        if lname == APP_HEADER.encode():
            self.from_app = True
        elif lname == b"connection" and value.lower() == b"close":
            self.close = True

    def on_message_complete(self) -> None:
        self.complete = True


class _ConnectionDropped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _request_bytes(path: str, port: int, last: bool) -> bytes:
    close = b"Connection: close\r\n" if last else b""
    return b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: connscope\r\n%s\r\n" % (path.encode(), port, close)


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, type(exc).__name__)


async def run_connection(
    timeline: Timeline,
    record: ConnectionRecord,
    sock: socket.socket,
    server_port: int,
    requests: int,
    path: str,
    timeout_ns: int,
    pause_s: float = 0.0,
) -> None:
    """Drives one connection to its end; the record is already in the timeline."""
    loop = asyncio.get_running_loop()
    request = RequestRecord(index=0, start_ns=record.intended_ns)
    record.requests.append(request)
    try:
        record.connect_start_ns = time.monotonic_ns()
        started = sock.connect_ex(("127.0.0.1", server_port))
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

        for index in range(requests):
            if index:
                if pause_s:
                    await asyncio.sleep(pause_s)
                request = RequestRecord(index=index, start_ns=time.monotonic_ns())
                record.requests.append(request)
            last = index == requests - 1
            response = await _exchange(loop, timeline, record, sock, request, path, server_port, last, timeout_ns)
            if response is None or response.close:
                return
    except asyncio.CancelledError:
        # The burst was cut short: the request in flight ends with a name, never none
        # (the burst writes why into its error).
        if request.outcome is None:
            _fail(request, Outcome.CANCELLED, "cancelled")
        raise
    finally:
        sock.close()
        record.client_closed_ns = time.monotonic_ns()
        timeline.changed(record)


async def _exchange(
    loop: asyncio.AbstractEventLoop,
    timeline: Timeline,
    record: ConnectionRecord,
    sock: socket.socket,
    request: RequestRecord,
    path: str,
    server_port: int,
    last: bool,
    timeout_ns: int,
) -> _Response | None:
    """Sends one request and reads its response; None when the connection is done for."""
    deadline = request.start_ns + timeout_ns
    response = _Response()
    parser = httptools.HttpResponseParser(response)
    try:
        await asyncio.wait_for(loop.sock_sendall(sock, _request_bytes(path, server_port, last)), _remaining(deadline))
        request.sent_ns = time.monotonic_ns()
        timeline.changed(record)
        while not response.complete:
            data = await asyncio.wait_for(loop.sock_recv(sock, RECV_BYTES), _remaining(deadline))
            if not data:
                raise _ConnectionDropped("EOF")
            if request.first_byte_ns is None:
                request.first_byte_ns = time.monotonic_ns()
            parser.feed_data(data)
    except TimeoutError:
        _fail(request, Outcome.TIMEOUT, "response")
        return None
    except (ConnectionResetError, BrokenPipeError) as exc:
        _fail(request, Outcome.RESET, _errno_name(exc))
        return None
    except _ConnectionDropped as exc:
        _fail(request, Outcome.RESET, exc.reason)
        return None
    except httptools.HttpParserError as exc:
        _fail(request, Outcome.ERROR, f"bad response: {exc}")
        return None
    except OSError as exc:
        _fail(request, Outcome.RESET, _errno_name(exc))
        return None
    request.done_ns = time.monotonic_ns()
    request.status = parser.get_status_code()
    request.from_app = response.from_app
    request.outcome = classify_response(request.status, response.from_app)
    timeline.changed(record)
    return response


def _established(sock: socket.socket) -> bool:
    """tcpi_state, the first byte of TCP_INFO."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == TCP_ESTABLISHED


def _retransmits(sock: socket.socket) -> int:
    """tcpi_total_retrans: a u32 at byte 100 of struct tcp_info."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_RETRANS_END)
    return int(struct.unpack_from("I", info, TCP_INFO_RETRANS_END - 4)[0])


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
