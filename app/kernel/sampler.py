"""The kernel witness at work: samples the accept queue and every peer's server-side view
on a thread of its own while bursts run, and hands changes to the timeline's loop.

Both come from one sock_diag dump of the target's port: the LISTEN socket's entry carries
the accept queue, so the control app needs no copy of the listening socket (a copy would
keep it listening after uvicorn closes it, and change what late clients get).

A dump of every connection walks the kernel's whole established hash (~1 ms here, 40% of
a core at one per 2 ms), a dump of the listener alone ~13 µs. Every tick dumps the
listener; the full dump runs only when a connection's server-side view can have changed:
the namespace's TCP counters moved (a connection opened, failed, reset or left
ESTABLISHED), the accept queue holds a connection, or the last full dump saw one not yet
accepted (connecting, in limbo, queued). Accepting a queued connection changes no counter,
but it was queued at the tick before, so that tick's full dump is followed by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Mapping

from app.kernel.accept_queue import AcceptQueueSample
from app.kernel.sock_diag import PeerState, SockDiag, classify, listener_queue

MIN_INTERVAL_S = 0.002
FULL_DUMP_AT_LEAST_S = 0.1
"""A full dump this often whatever the signals say, as a safety net."""
_TCP_COUNTERS = slice(5, 10)
"""ActiveOpens, PassiveOpens, AttemptFails, EstabResets, CurrEstab on /proc's `Tcp:` line."""

SampleHandler = Callable[[int, int, AcceptQueueSample | None, Mapping[int, PeerState]], None]
"""Called with the dump's start and end stamps, the accept queue and the changed peers."""
Enter = Callable[[], contextlib.AbstractContextManager[None]]
"""Puts the calling thread in the target's network namespace for the block."""


class KernelSampler:
    def __init__(self, port: int, on_sample: SampleHandler, enter: Enter | None = None) -> None:
        self._port = port
        self._enter: Enter = enter or contextlib.nullcontext
        self._on_sample = on_sample
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_dump_s = 0.0
        self.error: str | None = None
        self.ticks = 0
        self.full_dumps = 0
        self.cpu_s = 0.0
        """This thread's CPU time so far: what the kernel witness costs the control app."""

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(loop,), name="kernel-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self._sample(loop)
        except Exception as exc:  # noqa: BLE001  (reported, not lost with the thread)
            self.error = f"{type(exc).__name__}: {exc}"

    def _sample(self, loop: asyncio.AbstractEventLoop) -> None:
        seen: dict[int, PeerState] = {}
        reported: dict[int, PeerState] = {}
        counters = b""
        unsettled = True
        full_at = 0.0
        # A netlink socket sees the sockets of the namespace it was made in, and so does
        # this thread's own view of /proc's network files.
        with self._enter(), SockDiag() as diag, _TcpCounters() as tcp:
            while not self._stop.is_set():
                began = time.perf_counter()
                t_ns = time.monotonic_ns()
                now = tcp.read()
                try:
                    listening = diag.dump_port(self._port, listening_only=True)
                    queue = listener_queue(listening, self._port)
                    full = (
                        unsettled
                        or now != counters
                        or (queue is not None and queue[0] > 0)
                        or began - full_at >= FULL_DUMP_AT_LEAST_S
                    )
                    if full:
                        entries = diag.dump_port(self._port)
                        queue = listener_queue(entries, self._port)
                except OSError:
                    # A failed dump is a missed sample, not the end of the witness.
                    self._stop.wait(MIN_INTERVAL_S)
                    continue
                done_ns = time.monotonic_ns()
                sample = AcceptQueueSample(t_ns, *queue) if queue is not None else None
                self.ticks += 1
                self.full_dumps += full
                self.cpu_s = time.thread_time()
                if not full:
                    try:
                        loop.call_soon_threadsafe(self._on_sample, t_ns, done_ns, sample, {})
                    except RuntimeError:
                        return
                    self._stop.wait(MIN_INTERVAL_S)
                    continue
                counters, full_at = now, began
                # The dump walks the socket table while handshakes complete: it can see a
                # client established before its server side exists. Real limbo lasts at
                # least a retransmission (200 ms), so it counts only when seen twice.
                peers = classify(entries, self._port)
                unsettled = any(state is not PeerState.ACCEPTED for state in peers.values())
                # The listener's row is read before the walk reaches the connections, so a
                # handshake completing during the dump can show queued with the listener's
                # count from just before: the sample is the larger of the two sightings.
                in_queue = sum(1 for state in peers.values() if state is PeerState.QUEUED)
                if sample is not None and in_queue > sample.length:
                    sample = dataclasses.replace(sample, length=in_queue)
                confirmed = {
                    port: state
                    for port, state in peers.items()
                    if state is not PeerState.LIMBO or seen.get(port) is PeerState.LIMBO
                }
                seen = peers
                # Only changes cross to the loop: a burst of thousands must not cost the
                # loop thousands of updates per sample.
                changed = {port: state for port, state in confirmed.items() if reported.get(port) != state}
                reported = confirmed
                try:
                    loop.call_soon_threadsafe(self._on_sample, t_ns, done_ns, sample, changed)
                except RuntimeError:
                    return
                self.last_dump_s = time.perf_counter() - began
                # Sample no more than half the time, so the witness never starves the client.
                self._stop.wait(max(MIN_INTERVAL_S, self.last_dump_s))


class _TcpCounters:
    """The network namespace's TCP counters that move when a connection opens, fails,
    resets or leaves ESTABLISHED: read with one pread per tick (~6 µs)."""

    def __init__(self) -> None:
        # thread-self: the namespace this thread has entered, not the process's.
        self._fd = os.open("/proc/thread-self/net/snmp", os.O_RDONLY | os.O_CLOEXEC)

    def __enter__(self) -> _TcpCounters:
        return self

    def __exit__(self, *exc_info: object) -> None:
        os.close(self._fd)

    def read(self) -> bytes:
        data = os.pread(self._fd, 1 << 14, 0)
        header = data.index(b"\nTcp: ")
        start = data.index(b"\nTcp: ", header + 1) + 1
        return b" ".join(data[start : data.index(b"\n", start)].split()[_TCP_COUNTERS])
