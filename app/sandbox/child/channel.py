"""Inside the target: a channel for server events that never blocks the event loop.

An event is packed where it happens (on the loop's thread) and queued without a lock, and
the loop itself sends what has gathered, in one non-blocking send, a clock tick after the
first event of a batch (while events flow, no sooner than half a frame after its last send).

A loop that is blocked sends nothing, so its request would show in no slot until it ends.
The workload blocks its loop only on purpose, and says so first (`before_blocking`, which
sends at once). A user's own app can block it without a word: only for those does a
watchdog thread wake, every 50 ms, to send for a stuck loop. That thread is not free even
when it finds nothing to do: each wake-up takes the GIL from a busy loop, and side by side
on one core a target with it ran about 9% slower than without (`python3 -m bench.witness`).
While the loop stays busy it wakes less often (WATCHDOG_MAX_INTERVAL_S).

The socket is found by path, not inherited, because uvicorn's worker processes are spawned
fresh and a path works across network namespaces.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import os
import socket
import threading
import time
from time import monotonic_ns

from app.witness_protocol import RECORD

EVENTS_PATH_ENV = "CONNSCOPE_EVENTS"
FLUSH_INTERVAL_S = 0.002
"""How long the first report after a quiet spell waits in the target, for others to join it."""
BUSY_FLUSH_INTERVAL_S = 0.015
"""The least time between two sends while events flow: half a frame of the live view. Each
send wakes the control app, and on a virtual machine that wake-up costs the target tens of
microseconds: at one send per 2 ms under load, a few percent of its pace."""
STUCK_AFTER_S = 0.04
"""A loop that has not sent for this long is blocked (a handler that sleeps or burns CPU on
it): the watchdog thread, where one runs, sends for it, so the live view still sees the
request it runs."""
WATCHDOG_INTERVAL_S = 0.05
WATCHDOG_MAX_INTERVAL_S = 0.15
"""The watchdog's spacing while the loop keeps the GIL busy. Side by side on one core, a
target whose watchdog woke every 50 ms served 0.869× a plain one's requests, 0.902× backing
off to 0.15 s, 0.921× to 0.4 s, 0.962× with a thread that never woke (10 rounds each; the
last two intervals' CIs overlap). 0.15 s keeps a hold of 0.2 s or more, begun in a busy
spell, in view while it lasts. C code that keeps the GIL (a long regex, a huge
json.dumps) stops the watchdog too, until it returns."""
GIL_WAIT_S = 0.001
SEND_BUFFER_BYTES = 1 << 20
"""Room in the kernel for a burst of reports while the control app's loop is busy."""


class EventChannel:
    def __init__(self, path: str, watch: bool = False) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(path)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        self._sock.setblocking(False)
        self.pid = os.getpid()
        # Packed records, oldest first. The loop appends and a sender takes from the left:
        # a deque does both atomically, so the hottest path, one append per event, takes no
        # lock (a lock there cost as much as packing the record).
        self._queue: collections.deque[bytes] = collections.deque()
        self._append = self._queue.append
        # Taken from the queue, not yet taken by the kernel. Only a sender touches it, under
        # the lock: the loop's flush and the watchdog's may overlap, and a send exports it.
        self._unsent = bytearray()
        self._lock = threading.Lock()
        self._scheduled = False
        # As if the last send were long ago: the first report waits only the 2 ms.
        self._sent_at = time.monotonic() - BUSY_FLUSH_INTERVAL_S
        self._open = True
        self._pack = RECORD.pack
        self._watching = False
        atexit.register(self._flush_at_exit)
        if watch:
            self.watch()

    def emit(self, code: int, port: int) -> None:
        """Reports one fact (`code` from app.witness_protocol) about the connection from
        client `port`, now (CLOCK_MONOTONIC)."""
        self._append(self._pack(code, port, monotonic_ns()))
        if not self._scheduled:
            self._scheduled = True
            delay = max(FLUSH_INTERVAL_S, self._sent_at + BUSY_FLUSH_INTERVAL_S - time.monotonic())
            try:
                asyncio.get_running_loop().call_later(delay, self._flush)
            except RuntimeError:
                # No loop runs on this thread to send it: the watchdog will.
                self._scheduled = False
                self.watch()

    def watch(self) -> None:
        """Starts the watchdog thread (once): from now on a loop stuck for STUCK_AFTER_S is
        sent for."""
        if not self._watching:
            self._watching = True
            threading.Thread(target=self._watch, name="connscope-events", daemon=True).start()

    @property
    def watching(self) -> bool:
        return self._watching

    def before_blocking(self, seconds: float) -> None:
        """Code about to hold the loop for `seconds` (which then sends nothing) sends what has
        gathered now, if waiting for the loop would hold a report past the busy spacing.
        Shorter holds add up (asyncio runs every ready step before a flush that has come
        due), so the test is on the time since the last send, not on one hold alone."""
        if not self._open or not (self._queue or self._unsent):
            return
        if time.monotonic() + seconds - self._sent_at < BUSY_FLUSH_INTERVAL_S:
            return
        if self._send():
            # The control app is behind and the kernel took nothing: only a thread can
            # send while the loop is held.
            self.watch()

    def _flush(self) -> None:
        if not self._open:
            return
        self._scheduled = False
        self._send()
        if (self._queue or self._unsent) and self._open:
            # The control app is behind (a partial send, a full buffer): not sooner than while
            # events flow, or the target would pay a wake-up every 2 ms just when it is busiest.
            self._scheduled = True
            asyncio.get_running_loop().call_later(BUSY_FLUSH_INTERVAL_S, self._flush)

    def _take(self) -> None:
        """Moves the queued records to the unsent buffer, in order (under the lock)."""
        queue = self._queue
        if queue:
            popleft = queue.popleft
            self._unsent += b"".join([popleft() for _ in range(len(queue))])

    def _send(self) -> bool:
        """Sends what has gathered; True if some of it is still waiting for the kernel."""
        with self._lock:
            self._take()
            if not self._unsent:
                return False
            try:
                sent = self._sock.send(self._unsent)
            except BlockingIOError:
                return True
            except OSError:
                # The control app is gone: stop gathering what nobody will read.
                self._close()
                return False
            # Only a send that went out spaces the next: a flush that found nothing must not
            # hold back the report that follows it.
            self._sent_at = time.monotonic()
            # A partial send leaves the rest of a record first in line: the stream stays whole.
            del self._unsent[:sent]
            return bool(self._unsent)

    def _close(self) -> None:
        self._open = False
        self._append = _discard
        # Never scheduled again: nothing is left to send.
        self._scheduled = True
        self._queue.clear()
        self._unsent.clear()

    def _watch(self) -> None:
        interval = WATCHDOG_INTERVAL_S
        while self._open:
            due = time.monotonic() + interval
            time.sleep(interval)
            # Past the sleep, this thread waited for the GIL: a loop busy running Python
            # holds it, and CPython makes us wait its switch interval (5 ms) and then takes
            # it from the loop. Wake-ups then cost the loop its pace, so they are spaced out
            # while it stays busy; a loop that is idle, or blocked in a call that lets the
            # GIL go (a handler's time.sleep), is checked every 50 ms again.
            if time.monotonic() - due > GIL_WAIT_S:
                interval = min(interval * 2, WATCHDOG_MAX_INTERVAL_S)
            else:
                interval = WATCHDOG_INTERVAL_S
            if (self._queue or self._unsent) and time.monotonic() - self._sent_at > STUCK_AFTER_S:
                self._send()

    def _flush_at_exit(self) -> None:
        """The loop is gone: what is still gathered (the last closes) goes out blocking."""
        if os.getpid() != self.pid or not self._open:
            return
        with self._lock:
            self._take()
            try:
                self._sock.settimeout(1.0)
                self._sock.sendall(self._unsent)
            except OSError:
                pass
            self._close()


def _discard(_record: bytes) -> None:
    """Where records go once the control app is gone."""


# One per process by nature: each uvicorn worker is its own process with its own socket.
_channel: EventChannel | None = None
_opened = False
_loop_may_block = False


def channel() -> EventChannel | None:
    """This process's channel, opened on first use (each uvicorn worker opens its own)."""
    global _channel, _opened
    if not _opened:
        path = os.environ.get(EVENTS_PATH_ENV)
        _channel = EventChannel(path, watch=_loop_may_block) if path else None
        _opened = True
    return _channel


def watch_for_a_blocked_loop() -> None:
    """This process serves an app that may block its loop without saying so (a user's own):
    its channel gets the watchdog."""
    global _loop_may_block
    _loop_may_block = True
    if _channel is not None:
        _channel.watch()


def before_blocking(seconds: float) -> None:
    """Called by a handler about to hold the loop for `seconds`: what the loop has gathered
    (this request's `enter`) goes out now rather than after the handler, unless it would go
    out within the busy spacing anyway (EventChannel.before_blocking)."""
    if (events := channel()) is not None:
        events.before_blocking(seconds)


def _forget_after_fork() -> None:
    """A forked child has its parent's channel object but not its thread: open its own."""
    global _channel, _opened
    _channel, _opened = None, False


os.register_at_fork(after_in_child=_forget_after_fork)
