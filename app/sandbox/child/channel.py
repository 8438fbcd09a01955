"""Inside the target: a channel for server events that never blocks the event loop.

An event is packed into a buffer where it happens (on the loop's thread), and the loop
itself sends what has gathered, in one non-blocking send, a clock tick after the first
event of a batch. A reporting thread woken on a 2 ms clock took the GIL from the loop on
every wake-up and encoded in Python what one `struct.pack` now does; now a thread only
stands by, waking every 50 ms to send for a loop that a blocking handler holds. The socket is
found by path, not inherited, because uvicorn's worker processes are spawned fresh and a
path works across network namespaces.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import socket
import threading
import time

from app.witness_protocol import CODES, NO_STATUS, RECORD

EVENTS_PATH_ENV = "CONNSCOPE_EVENTS"
FLUSH_INTERVAL_S = 0.002
"""How long a report may wait in the target while events flow: well under a frame."""
STUCK_AFTER_S = 0.02
"""A loop that has not sent for this long is blocked (a blocking handler, a CPU burn):
the watchdog thread sends for it, so the live view still sees the request it runs."""
WATCHDOG_INTERVAL_S = 0.05
SEND_BUFFER_BYTES = 1 << 20
"""Room in the kernel for a burst of reports while the control app's loop is busy."""


class EventChannel:
    def __init__(self, path: str) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(path)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        self._sock.setblocking(False)
        self.pid = os.getpid()
        self._pending = bytearray()
        # The watchdog thread sends from the same buffer; a send exports it, and a record
        # appended meanwhile would fail to resize it.
        self._lock = threading.Lock()
        self._scheduled = False
        self._sent_at = time.monotonic()
        self._open = True
        self._pack = RECORD.pack
        atexit.register(self._flush_at_exit)
        threading.Thread(target=self._watch, name="connscope-events", daemon=True).start()

    def emit(self, kind: str, port: int, t_ns: int, status: int | None = None) -> None:
        if not self._open:
            return
        record = self._pack(CODES[kind], port, self.pid, t_ns, NO_STATUS if status is None else status)
        with self._lock:
            self._pending += record
        if not self._scheduled:
            self._scheduled = True
            try:
                asyncio.get_running_loop().call_later(FLUSH_INTERVAL_S, self._flush)
            except RuntimeError:
                # No loop runs on this thread: the watchdog sends it.
                self._scheduled = False

    def _flush(self) -> None:
        self._scheduled = False
        self._send()
        if self._pending and self._open:
            self._scheduled = True
            asyncio.get_running_loop().call_later(FLUSH_INTERVAL_S, self._flush)

    def _send(self) -> None:
        with self._lock:
            self._sent_at = time.monotonic()
            if not self._pending:
                return
            try:
                sent = self._sock.send(self._pending)
            except BlockingIOError:
                return
            except OSError:
                # The control app is gone: stop gathering what nobody will read.
                self._open = False
                self._pending.clear()
                return
            # A partial send leaves the rest of a record first in line: the stream stays whole.
            del self._pending[:sent]

    def _watch(self) -> None:
        while self._open:
            time.sleep(WATCHDOG_INTERVAL_S)
            if self._pending and time.monotonic() - self._sent_at > STUCK_AFTER_S:
                self._send()

    def _flush_at_exit(self) -> None:
        """The loop is gone: what is still gathered (the last closes) goes out blocking."""
        if os.getpid() != self.pid or not self._open:
            return
        with self._lock:
            try:
                self._sock.settimeout(1.0)
                self._sock.sendall(self._pending)
            except OSError:
                pass
            self._pending.clear()
            self._open = False


# One per process by nature: each uvicorn worker is its own process with its own socket.
_channel: EventChannel | None = None
_opened = False


def channel() -> EventChannel | None:
    """This process's channel, opened on first use (each uvicorn worker opens its own)."""
    global _channel, _opened
    if not _opened:
        path = os.environ.get(EVENTS_PATH_ENV)
        _channel = EventChannel(path) if path else None
        _opened = True
    return _channel


def _forget_after_fork() -> None:
    """A forked child has its parent's channel object but not its thread: open its own."""
    global _channel, _opened
    _channel, _opened = None, False


os.register_at_fork(after_in_child=_forget_after_fork)
