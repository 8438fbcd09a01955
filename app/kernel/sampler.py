"""The kernel witness at work: samples the accept queue and every peer's server-side view
on a thread of its own while bursts run, and hands changes to the timeline's loop."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Mapping

from app.kernel.accept_queue import AcceptQueueSample, read_accept_queue
from app.kernel.sock_diag import PeerState, SockDiag, classify

MIN_INTERVAL_S = 0.002

SampleHandler = Callable[[AcceptQueueSample, Mapping[int, PeerState]], None]


class KernelSampler:
    def __init__(self, listener: socket.socket, port: int, on_sample: SampleHandler) -> None:
        self._listener = listener
        self._port = port
        self._on_sample = on_sample
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples_taken = 0
        self.last_dump_s = 0.0

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
        previous: dict[int, PeerState] = {}
        with SockDiag() as diag:
            while not self._stop.is_set():
                began = time.perf_counter()
                try:
                    queue = read_accept_queue(self._listener)
                    peers = classify(diag.dump_port(self._port), self._port)
                except OSError:
                    # The listener closed under us (the target exited): nothing left to see.
                    return
                # Only changes cross to the loop: a burst of thousands must not cost the
                # loop thousands of updates per sample.
                changed = {port: state for port, state in peers.items() if previous.get(port) != state}
                previous = peers
                try:
                    loop.call_soon_threadsafe(self._on_sample, queue, changed)
                except RuntimeError:
                    return
                self.samples_taken += 1
                self.last_dump_s = time.perf_counter() - began
                # Sample no more than half the time, so the witness never starves the client.
                self._stop.wait(max(MIN_INTERVAL_S, self.last_dump_s))
