"""An experiment: one sandboxed target, the bursts fired at it, the timeline they share, and
each burst's result (the run contract of app/result.py)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field

from app.errors import NetnsError, TargetError
from app.kernel import counters
from app.kernel.accept_queue import AcceptQueueSample
from app.kernel.sampler import KernelSampler
from app.kernel.sock_diag import PeerState
from app.result import (
    LatencyPercentiles,
    Peaks,
    QueueWait,
    RunResult,
    TargetInfo,
    Totals,
    Worker,
    connection,
)
from app.sandbox.apps import UserApp
from app.sandbox.engines import ENGINES
from app.sandbox.isolation import netns_unavailable_reason
from app.sandbox.netns import PrivateNetwork
from app.sandbox.settings import TargetSettings
from app.sandbox.target import Target
from app.timeline import summary
from app.timeline.histogram import percentiles_ms
from app.timeline.timeline import Timeline
from app.traffic.burst import Burst, fire
from app.traffic.collector import full_collections_held
from app.traffic.spec import BurstSpec

DRAIN_LIMIT_S = 2.0
DRAIN_QUIET_S = 0.1


def knobs_refused(reason: str) -> str:
    return f"kernel knobs need a private network namespace: {reason}"


def cannot_start(settings: TargetSettings) -> str | None:
    """Why these settings cannot run on this machine, known before anything is started."""
    reason = netns_unavailable_reason() if settings.sysctls else None
    return knobs_refused(reason) if reason is not None else None


@dataclass
class Experiment:
    settings: TargetSettings
    timeline: Timeline = field(default_factory=Timeline)
    bursts: list[Burst] = field(default_factory=list)
    capacity: int | None = None
    app: UserApp | None = None
    """The user's app the target serves (its name is settings.app), instead of the workload."""

    def __post_init__(self) -> None:
        if (self.app.name if self.app is not None else None) != self.settings.app:
            # The target would serve the workload under the app's name: every figure of the
            # run would be the workload's.
            raise ValueError(f"settings name the app {self.settings.app!r}, the target was given {self.app!r}")
        self.network = PrivateNetwork(self.settings.sysctls) if self.settings.sysctls else None
        self.target = Target(self.settings, on_event=self.timeline.server_event, network=self.network, app=self.app)
        self._sampler: KernelSampler | None = None
        self._running = 0
        self._ids = itertools.count(1)
        self.origin_ns = time.monotonic_ns()
        """The live stream's clock starts here; each burst's result counts from its own start."""
        self._counters: dict[int, tuple[dict[str, int], dict[str, int] | None]] = {}
        """Per burst id: the listener namespace's kernel counters before it and after it."""

    async def start(self) -> None:
        if self.network is not None:
            try:
                self.network.open()
            except NetnsError as exc:
                raise TargetError(knobs_refused(str(exc))) from None
        await self.target.start()
        self._sampler = KernelSampler(
            self.target.port, self._on_kernel_sample, self.network.entered if self.network is not None else None
        )

    async def __aenter__(self) -> Experiment:
        try:
            await self.start()
        except BaseException:
            # Whatever started (a network namespace, a half-started target) is stopped.
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.stop()
        await self.target.stop()
        if self.network is not None:
            self.network.close()

    def add_burst(self, spec: BurstSpec) -> Burst:
        burst = Burst(id=next(self._ids), spec=spec, server_port=self.target.port, make_socket=self._make_socket)
        self.bursts.append(burst)
        return burst

    async def fire(self, burst: Burst) -> Burst:
        """Fires a burst and returns when every connection has ended and the server's
        reports about them have arrived. Bursts may overlap; they share the timeline."""
        self._running += 1
        if self._running == 1 and self._sampler is not None:
            self._sampler.start(asyncio.get_running_loop())
        before = self._read_counters()
        try:
            with full_collections_held():
                await fire(burst, self.timeline)
                await self._drain(burst)
        finally:
            if before is not None:
                self._counters[burst.id] = (before, self._read_counters())
            self._running -= 1
            if self._running == 0 and self._sampler is not None:
                self._sampler.stop()
        return burst

    def _read_counters(self) -> dict[str, int] | None:
        """The counters of the namespace the listener was made in, where its drops count."""
        try:
            return counters.read(self.network.proc_net) if self.network is not None else counters.read()
        except OSError:
            return None

    def _counter_delta(self, burst: Burst) -> tuple[dict[str, int] | None, str | None]:
        before, after = self._counters.get(burst.id, ({}, None))
        if after is None:
            return None, None
        scope = (
            "the experiment's private network namespace"
            if self.network is not None
            else "the host's network namespace, where the listening socket was made (the target's "
            "process may have its own), shared with every other listener on it"
        )
        return counters.delta(before, after), scope

    def _make_socket(self) -> socket.socket:
        if self.network is None:
            return socket.socket()
        with self.network.entered():
            return socket.socket()

    async def _drain(self, burst: Burst) -> None:
        """Waits until the server has reported closing every connection it accepted (its
        reports travel through a socket and may trail the client), or a time limit."""
        deadline = time.monotonic() + DRAIN_LIMIT_S
        while time.monotonic() < deadline:
            quiet = time.monotonic_ns() - self.timeline.last_server_event_ns > DRAIN_QUIET_S * 1e9
            if self.timeline.pending_server_close(burst.records) == 0 and quiet:
                return
            if self.target.status.state != "ready" and quiet:
                return
            await asyncio.sleep(0.02)

    def _on_kernel_sample(
        self, began_ns: int, done_ns: int, sample: AcceptQueueSample | None, peers: Mapping[int, PeerState]
    ) -> None:
        if sample is not None:
            self.capacity = sample.capacity
        self.timeline.kernel_sample(began_ns, done_ns, sample, peers)

    def result(self, burst: Burst) -> RunResult:
        """The burst's result, every figure from records; each record's states are derived
        once here, and every figure and connection is computed from those."""
        records = burst.records
        end = burst.ended_ns or time.monotonic_ns()
        derived = [(record, record.states()) for record in records]
        samples = self.timeline.queue_samples
        peaks = summary.peaks(changes for _, changes in derived)
        kernel_counters, scope = self._counter_delta(burst)
        waits = summary.queue_waits_ms(changes for _, changes in derived)
        return RunResult(
            settings=self.settings,
            burst=burst.spec,
            target=TargetInfo(
                port=self.target.port,
                state=self.target.status.state,
                exit=self.target.status.describe_exit(),
                isolation=self.target.status.isolation,
                server=self.settings.server,
                server_version=ENGINES[self.settings.server].version(),
                witnesses=ENGINES[self.settings.server].witnessed(self.settings.model_dump()),
            ),
            totals=Totals.model_validate(summary.totals(records)),
            cancelled=burst.cancelled,
            peaks=Peaks.model_validate(peaks | {"accept_queue": summary.queue_peak(samples, burst.started_ns, end)}),
            accept_queue_capacity=self.capacity,
            kernel_witness_error=self._sampler.error if self._sampler is not None else None,
            kernel_samples=sum(1 for s in samples if burst.started_ns <= s.t_ns <= end),
            duration_ms=round((end - burst.started_ns) / 1e6, 3),
            latency_ms=LatencyPercentiles.model_validate(summary.latency_ms(records)),
            connect_ms=LatencyPercentiles.model_validate(summary.connect_ms(records)),
            timeouts_by_state=summary.timeouts_by_state(derived),
            connections=[connection(record, changes, burst.started_ns) for record, changes in derived],
            workers=[Worker.model_validate(w) for w in summary.per_worker(derived, self.target.worker_pids)],
            kernel_counters=kernel_counters,
            kernel_counters_scope=scope,
            queue_wait_ms=QueueWait(
                edges_ms=list(summary.QUEUE_WAIT_EDGES_MS),
                counts=summary.histogram(waits, summary.QUEUE_WAIT_EDGES_MS),
                p50=percentiles_ms(round(w * 1e6) for w in waits)["p50"],
                max=round(max(waits), 3) if waits else None,
            ),
        )


async def check_start(settings: TargetSettings, app: UserApp | None = None) -> None:
    """Starts a target and stops it at once; TargetError says why it cannot start. The
    control app never imports a user's app itself: starting it is how to know it loads."""
    async with Experiment(settings, app=app):
        pass


async def run_once(
    settings: TargetSettings,
    spec: BurstSpec,
    watch: Callable[[Burst], Coroutine[None, None, None]] | None = None,
    app: UserApp | None = None,
) -> RunResult:
    """Starts a target, fires one burst at it, stops it, and returns the burst's result;
    `watch` runs alongside the burst (e.g. a progress line) and is cancelled when it ends."""
    async with Experiment(settings, app=app) as experiment:
        burst = experiment.add_burst(spec)
        watcher = asyncio.create_task(watch(burst)) if watch is not None else None
        try:
            await experiment.fire(burst)
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
        return experiment.result(burst)
