"""Inside the target: a channel for server events that never blocks the event loop.

The loop only appends a tuple to a deque; a daemon thread wakes on its own clock, encodes
what has gathered and writes it to the control app's Unix socket in one call. Waking the
thread per event (a queue's get) made the two threads trade the GIL on every report, which
cost the target about a fifth of its throughput; a clock costs a wake-up per flush. The
socket is found by path, not inherited, because uvicorn's worker processes are spawned
fresh and a path works across network namespaces.
"""

from __future__ import annotations

import collections
import os
import socket
import threading
import time

from app.witness_protocol import encode

EVENTS_PATH_ENV = "CONNSCOPE_EVENTS"
FLUSH_INTERVAL_S = 0.002
"""How long a report may wait in the target while events flow: well under a frame."""
IDLE_INTERVAL_S = 0.02
"""The wait once nothing has been reported for a while, so an idle target stays idle."""

Event = tuple[str, int, int, int | None]


class EventChannel:
    def __init__(self, path: str) -> None:
        self._pending: collections.deque[Event] = collections.deque()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(path)
        self.pid = os.getpid()
        self._open = True
        threading.Thread(target=self._pump, name="connscope-events", daemon=True).start()

    def emit(self, kind: str, port: int, t_ns: int, status: int | None = None) -> None:
        # deque.append is atomic: no lock, and the pump thread is not woken.
        if self._open:
            self._pending.append((kind, port, t_ns, status))

    def _pump(self) -> None:
        pending, pid, interval = self._pending, self.pid, FLUSH_INTERVAL_S
        while True:
            time.sleep(interval)
            count = len(pending)
            if not count:
                interval = min(interval * 2, IDLE_INTERVAL_S)
                continue
            interval = FLUSH_INTERVAL_S
            batch = b"".join(
                encode(kind, pid, port, t_ns, status)
                for kind, port, t_ns, status in (pending.popleft() for _ in range(count))
            )
            try:
                self._sock.sendall(batch)
            except OSError:
                # The control app is gone: stop queueing what nobody will read.
                self._open = False
                pending.clear()
                return


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
