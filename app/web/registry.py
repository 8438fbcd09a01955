"""The app's one registry of targets and the bursts fired at them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from dataclasses import dataclass, field

from starlette.requests import Request

from app.errors import StoreError, TargetError
from app.experiment import Experiment, cannot_start
from app.limits import Limits
from app.result import RunResult
from app.sandbox.settings import TargetSettings
from app.scenarios import Scenario, interrupted_finding
from app.store import RunStore
from app.traffic.burst import Burst
from app.traffic.spec import BurstSpec
from app.web.models import BurstProgress, BurstView, Superseded, TargetView
from app.web.stream import Stream

TAIL_LINES_SHOWN = 40
STOPPED_SESSIONS_KEPT = 5
"""Sessions of stopped targets the API still answers for; their runs are in the store."""

log = logging.getLogger(__name__)


@dataclass
class Session:
    """One target with its timeline, its live stream and its bursts."""

    id: int
    experiment: Experiment
    error: str | None = None
    tasks: dict[asyncio.Task[Burst], Burst] = field(default_factory=dict)
    scenario: Scenario | None = None
    run_ids: dict[int, int | None] = field(default_factory=dict)
    """Burst id → its recorded run (None when the store could not take it)."""
    findings: dict[int, str | None] = field(default_factory=dict)
    superseded: list[Superseded] = field(default_factory=list)
    """Bursts of the target before this one that its start cut short."""
    interrupted: str | None = None
    """What starting this target cut short on the one before: its bursts' findings."""
    stopping: bool = False
    recording: set[int] = field(default_factory=set)
    """Bursts whose result is being stored: past cutting short."""
    unrecorded: dict[int, RunResult] = field(default_factory=dict)
    """Results the store could not take, kept to be served from here."""

    def __post_init__(self) -> None:
        self.stream = Stream(self.experiment.timeline, self.status, origin_ns=self.experiment.origin_ns)

    @property
    def settings(self) -> TargetSettings:
        return self.experiment.settings

    @property
    def ready(self) -> bool:
        return self.experiment.target.ready and not self.stopping

    @property
    def state(self) -> str:
        """The target's state, `stopping` from the moment the registry decides to stop it:
        never `ready` for a target on its way out."""
        state = self.experiment.target.status.state
        if state in ("starting", "ready") and self.stopping:
            return "stopping"
        if state == "ready" and not self.experiment.target.ready:
            return "stopping"
        return state

    def view(self) -> TargetView:
        target = self.experiment.target
        return TargetView(
            id=self.id,
            state=self.state,
            port=target.port,
            pid=target.status.pid,
            exit=target.status.describe_exit(),
            isolation=target.status.isolation,
            sandbox=target.status.sandbox,
            error=self.error,
            output_tail=target.output_tail[-TAIL_LINES_SHOWN:] if target.status.state == "crashed" else [],
            settings=self.settings,
            capacity=self.experiment.capacity,
            bursts=[
                BurstView(**dict(self.progress(b)), finding=self.findings.get(b.id), cancelled=b.cancelled)
                for b in self.experiment.bursts
            ],
            superseded=self.superseded,
            worker_pids=target.worker_pids,
        )

    def status(self) -> dict[str, object]:
        """The view as JSON data, for the page's templates and the live frames."""
        return self.view().model_dump(mode="json")

    def progress(self, burst: Burst) -> BurstProgress:
        """`done` once the result is final and recorded: what the API then returns is the run."""
        started = burst.started_ns - self.experiment.origin_ns if burst.started_ns else None
        return BurstProgress(
            id=burst.id,
            planned=burst.spec.connections,
            finished=burst.finished_connections,
            done=burst.id in self.run_ids,
            run_id=self.run_ids.get(burst.id),
            pattern=burst.spec.pattern,
            started_ms=None if started is None else round(started / 1e6, 3),
        )

    def burst(self, burst_id: int) -> Burst | None:
        return next((b for b in self.experiment.bursts if b.id == burst_id), None)

    @property
    def running(self) -> list[Burst]:
        return [b for b in self.experiment.bursts if b.id not in self.run_ids]


@dataclass
class Registry:
    store: RunStore
    limits: Limits = field(default_factory=Limits)
    sessions: dict[int, Session] = field(default_factory=dict)
    current: Session | None = None
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._starting = 0

    async def start(self, settings: TargetSettings, scenario: Scenario | None = None) -> Session:
        """Replaces the current target with a new one (two cores do not run two targets
        fairly); bursts still running on the old one are cancelled, and say so. A target that
        fails to start is kept, with its error, so it can be shown. Raises CapExceeded or
        TargetError before anything is stopped: the running experiment stays."""
        self.limits.check_target(settings)
        if self._starting >= self.limits.targets:
            raise self.limits.refuse("targets", self._starting + 1)
        self._starting += 1
        try:
            async with self._lock:
                return await self._start(settings, scenario)
        finally:
            self._starting -= 1

    async def _start(self, settings: TargetSettings, scenario: Scenario | None) -> Session:
        refusal = cannot_start(settings)
        if refusal is not None:
            raise TargetError(refusal)
        session = Session(next(self._ids), Experiment(settings), scenario=scenario)
        previous = self.current
        if previous is not None:
            why = f"superseded by target {session.id}" + (f" (scenario {scenario.id})" if scenario else "")
            cut = await self._stop(previous, why)
            await previous.stream.close()
            session.superseded = [
                Superseded(target=previous.id, burst=b.id, run_id=previous.run_ids.get(b.id), cancelled=b.cancelled)
                for b in cut
            ]
            session.interrupted = " ".join(f for b in cut if (f := previous.findings.get(b.id))) or None
        self.sessions[session.id] = session
        self.current = session
        self._prune()
        session.stream.start()
        await self._notify()
        try:
            await session.experiment.start()
        except (TargetError, OSError) as exc:
            session.error = str(exc)
            await session.experiment.stop()
        except Exception as exc:
            # A fault of ours while watching a target come up is still that target's failed
            # start: said in the panel and the API, with the traceback in the dashboard's log.
            log.exception("target %d failed to start", session.id)
            session.error = f"target failed to start: {type(exc).__name__}: {exc}"
            await session.experiment.stop()
        await self._notify()
        return session

    async def stop(self, session: Session) -> None:
        async with self._lock:
            await self._stop(session, f"target {session.id} stopped")
            await self._notify()

    async def _stop(self, session: Session, why: str) -> list[Burst]:
        """Stops a target; returns the bursts it cut short, each recorded with `why`."""
        session.stopping = True
        firing = {task: burst for task, burst in session.tasks.items() if burst.id not in session.recording}
        for task, burst in firing.items():
            burst.cancelled = why
            task.cancel()
        for task in list(session.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await session.experiment.stop()
        return list(firing.values())

    def _prune(self) -> None:
        stopped = [s for s in self.sessions.values() if s is not self.current and not s.tasks]
        for session in stopped[:-STOPPED_SESSIONS_KEPT]:
            del self.sessions[session.id]

    def fire(self, session: Session, spec: BurstSpec, scenario: Scenario | None = None) -> Burst:
        """Raises CapExceeded for a burst over the caps, before anything is fired."""
        self.limits.check_burst(spec)
        if len(session.running) >= self.limits.bursts_per_target:
            raise self.limits.refuse("bursts_per_target", len(session.running) + 1)
        burst = session.experiment.add_burst(spec)
        task = asyncio.create_task(self._fire_and_record(session, burst, scenario))
        session.tasks[task] = burst
        task.add_done_callback(lambda done: session.tasks.pop(done, None))
        return burst

    async def _fire_and_record(self, session: Session, burst: Burst, scenario: Scenario | None) -> Burst:
        run_id: int | None = None
        try:
            try:
                await session.experiment.fire(burst)
            except asyncio.CancelledError:
                # Only _stop cancels a burst: what it did until then is recorded, with why it ended.
                asyncio.current_task().uncancel()  # type: ignore[union-attr]
            result = session.experiment.result(burst)
            if burst.cancelled is not None:
                finding: str | None = interrupted_finding(burst.id, scenario, result)
            else:
                finding = scenario.finding(result) if scenario is not None else None
            result = result.model_copy(update={"finding": finding, "scenario": scenario.id if scenario else None})
            session.findings[burst.id] = result.finding
            session.recording.add(burst.id)
            # SQLite writes are quick but blocking: keep them off the loop the bursts run on.
            run_id = await asyncio.to_thread(self.store.save, result)
        except StoreError as exc:
            session.error = f"burst {burst.id} could not be recorded: {exc}"
            session.unrecorded[burst.id] = result
        finally:
            session.run_ids[burst.id] = run_id
        await self._notify()
        return burst

    async def close(self) -> None:
        if self.current is not None:
            await self._stop(self.current, "the dashboard shut down")
            await self.current.stream.close()

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()


def registry_of(request: Request) -> Registry:
    """The app's one registry, for route handlers."""
    registry: Registry = request.app.state.registry
    return registry
