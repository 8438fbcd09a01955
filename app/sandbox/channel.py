"""Inside the target: a channel for server events that never blocks the event loop.

The loop only appends to an in-memory queue; a daemon thread writes batches to the control
app's Unix socket. The socket is found by path, not inherited, because uvicorn's worker
processes are spawned fresh and a path works across network namespaces.
"""

from __future__ import annotations

import os
import queue
import socket
import threading

from app.sandbox.events import encode

EVENTS_PATH_ENV = "CONNSCOPE_EVENTS"


class EventChannel:
    def __init__(self, path: str) -> None:
        self._queue: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(path)
        self.pid = os.getpid()
        threading.Thread(target=self._pump, name="connscope-events", daemon=True).start()

    def emit(self, kind: str, port: int, t_ns: int, status: int | None = None) -> None:
        self._queue.put(encode(kind, self.pid, port, t_ns, status))

    def _pump(self) -> None:
        while True:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._sock.sendall(b"".join(batch))
            except OSError:
                # The control app is gone: stop queueing what nobody will read.
                self.emit = self._drop  # type: ignore[method-assign]
                return

    def _drop(self, kind: str, port: int, t_ns: int, status: int | None = None) -> None:
        """emit() once the control app has gone away."""


# One per process by nature: each uvicorn worker is its own process with its own socket.
_channel: EventChannel | None = None


def channel() -> EventChannel | None:
    """This process's channel, opened on first use (each uvicorn worker opens its own)."""
    global _channel
    if _channel is None or _channel.pid != os.getpid():
        path = os.environ.get(EVENTS_PATH_ENV)
        _channel = EventChannel(path) if path else None
    return _channel
