"""The kernel witness at work: samples the accept queue and every peer's server-side view
on a thread of its own while bursts run, and hands changes to the timeline's loop.

Both come from one sock_diag dump of the target's port: the LISTEN socket's entry carries
the accept queue, so the control app needs no copy of the listening socket (a copy would
keep it listening after uvicorn closes it, and change what late clients get).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Mapping

from app.kernel.accept_queue import AcceptQueueSample
from app.kernel.sock_diag import PeerState, SockDiag, classify, listener_queue

MIN_INTERVAL_S = 0.002

SampleHandler = Callable[[int, AcceptQueueSample | None, Mapping[int, PeerState]], None]
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
        # A netlink socket sees the sockets of the namespace it was made in.
        with self._enter(), SockDiag() as diag:
            while not self._stop.is_set():
                began = time.perf_counter()
                t_ns = time.monotonic_ns()
                try:
                    entries = diag.dump_port(self._port)
                except OSError:
                    # A failed dump is a missed sample, not the end of the witness.
                    self._stop.wait(MIN_INTERVAL_S)
                    continue
                # The dump walks the socket table while handshakes complete: it can see a
                # client established before its server side exists. Real limbo lasts at
                # least a retransmission (200 ms), so it counts only when seen twice.
                done_ns = time.monotonic_ns()
                queue = listener_queue(entries, self._port)
                sample = AcceptQueueSample(t_ns, *queue) if queue is not None else None
                peers = classify(entries, self._port)
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
                    loop.call_soon_threadsafe(self._on_sample, done_ns, sample, changed)
                except RuntimeError:
                    return
                self.last_dump_s = time.perf_counter() - began
                # Sample no more than half the time, so the witness never starves the client.
                self._stop.wait(max(MIN_INTERVAL_S, self.last_dump_s))
