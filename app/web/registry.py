"""The app's one registry of targets and the bursts fired at them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from dataclasses import dataclass, field

from starlette.requests import Request

from app.comparison import MODES, finding
from app.errors import CapExceeded, ConnscopeError, StoreError, TargetError
from app.experiment import Experiment, cannot_start
from app.limits import Limits
from app.result import RunResult
from app.sandbox.apps import UserApp
from app.sandbox.engines import ENGINES
from app.sandbox.settings import TargetSettings
from app.scenarios import Scenario, interrupted_finding
from app.store import ComparisonStore, RunStore
from app.sweep import Plan, Sweep, describe
from app.traffic.burst import Burst
from app.traffic.spec import BurstSpec
from app.web.models import BurstProgress, BurstView, ComparisonView, Superseded, TargetView
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
    versus_of: RunResult | None = None
    """In a two-target scenario's second target: the first one's run, which its finding compares."""

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
            server_version=ENGINES[self.settings.server].version(),
            witnesses=ENGINES[self.settings.server].witnessed(self.settings.model_dump()),
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
class SweepJob:
    """A sweep started from the dashboard: its record in the store, filled in as it runs."""

    id: int
    sweep: Sweep
    task: asyncio.Task[None] | None = None

    def record(self) -> dict[str, object]:
        data = self.sweep.record()
        data["sweep"]["id"] = self.id
        return data


@dataclass
class Comparison:
    """Two targets, each in its own sandbox, fired the same burst: one after the other, or
    at the same time when `concurrent` (then they shared the CPU, and the result says so)."""

    id: int
    a: Session
    b: Session
    spec: BurstSpec
    concurrent: bool = False
    state: str = "starting"
    error: str | None = None
    bursts: dict[str, Burst] = field(default_factory=dict)
    record_id: int | None = None
    finding: str | None = None
    superseded: list[Superseded] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    @property
    def mode(self) -> str:
        return "concurrent" if self.concurrent else "sequential"

    @property
    def sides(self) -> tuple[tuple[str, Session], tuple[str, Session]]:
        return ("a", self.a), ("b", self.b)

    def run_id(self, side: str) -> int | None:
        burst = self.bursts.get(side)
        session = self.a if side == "a" else self.b
        return None if burst is None else session.run_ids.get(burst.id)

    def view(self) -> ComparisonView:
        return ComparisonView(
            id=self.id,
            state=self.state,
            mode=self.mode,
            mode_label=MODES[self.mode],
            error=self.error,
            burst=self.spec,
            a=self.a.view(),
            b=self.b.view(),
            run_a=self.run_id("a"),
            run_b=self.run_id("b"),
            record_id=self.record_id,
            finding=self.finding,
            superseded=self.superseded,
        )


@dataclass
class Registry:
    store: RunStore
    limits: Limits = field(default_factory=Limits)
    sessions: dict[int, Session] = field(default_factory=dict)
    current: Session | None = None
    comparisons: dict[int, Comparison] = field(default_factory=dict)
    comparison: Comparison | None = None
    """The live comparison: its two targets are the live ones while `current` is None."""
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    sweep: SweepJob | None = None
    """The dashboard's sweep: one at a time, and no target beside it (each cell has its own)."""
    apps: dict[str, UserApp] = field(default_factory=dict)
    """The user's apps the operator listed at start, by name: a target serves one of these or the workload."""
    viewers: int = 0
    """Live views open now (`limits.viewers` caps them)."""

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._comparison_ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._second_legs: set[asyncio.Task[None]] = set()
        self._starting = 0

    async def start(self, settings: TargetSettings, scenario: Scenario | None = None) -> Session:
        """Replaces the current target with a new one (two cores do not run two targets
        fairly); bursts still running on the old one are cancelled, and say so. A target that
        fails to start is kept, with its error, so it can be shown. Raises CapExceeded or
        TargetError before anything is stopped: the running experiment stays."""
        self.limits.check_target(settings)
        self._refuse_beside_sweep()
        self._check_app(settings)
        if self._starting >= self.limits.targets:
            raise self.limits.refuse("targets", self._starting + 1)
        self._starting += 1
        try:
            async with self._lock:
                # Again under the lock: a sweep may have started while this waited for it.
                self._refuse_beside_sweep()
                return await self._start(settings, scenario)
        finally:
            self._starting -= 1

    def _check_app(self, settings: TargetSettings, field: str = "app") -> None:
        """A browser chooses among the apps the operator listed; it never names an import path."""
        if settings.app is not None and settings.app not in self.apps:
            listed = ", ".join(self.apps) or "none"
            raise CapExceeded(
                "apps",
                "--app",
                field,
                f"{settings.app!r} is not an app this dashboard was started with (listed: {listed}); "
                "the operator lists apps with --app.",
            )

    async def _start(self, settings: TargetSettings, scenario: Scenario | None) -> Session:
        refusal = cannot_start(settings)
        if refusal is not None:
            raise TargetError(refusal)
        app = self.apps.get(settings.app) if settings.app is not None else None
        session = Session(next(self._ids), Experiment(settings, app=app), scenario=scenario)
        why = f"superseded by target {session.id}" + (f" (scenario {scenario.id})" if scenario else "")
        session.superseded, session.interrupted = await self._supersede(why)
        self.sessions[session.id] = session
        self.current = session
        self._prune()
        session.stream.start()
        await self._notify()
        await self._bring_up(session)
        await self._notify()
        return session

    async def _supersede(self, why: str) -> tuple[list[Superseded], str | None]:
        """Stops the live target, or the live comparison's two: one experiment at a time.
        Returns the bursts cut short, and what their findings had said."""
        superseded: list[Superseded] = []
        findings: list[str] = []
        live = [self.current] if self.current is not None else []
        if self.comparison is not None:
            live += [self.comparison.a, self.comparison.b]
            self.comparison = None
        # All marked first: a comparison's next side must not be fired while the first stops.
        for previous in live:
            previous.stopping = True
        for previous in live:
            cut = await self._stop(previous, why)
            await previous.stream.close()
            superseded += [
                Superseded(target=previous.id, burst=b.id, run_id=previous.run_ids.get(b.id), cancelled=b.cancelled)
                for b in cut
            ]
            findings += [f for b in cut if (f := previous.findings.get(b.id))]
        self.current = None
        return superseded, " ".join(findings) or None

    async def _bring_up(self, session: Session) -> None:
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

    async def compare(
        self, settings_a: TargetSettings, settings_b: TargetSettings, spec: BurstSpec, concurrent: bool = False
    ) -> Comparison:
        """Replaces the live target (or comparison) with two targets and fires `spec` at
        both, with the same arrival schedule; returns once both targets are up, the bursts
        running. It counts as two target starts against the caps, and every cap is checked
        (CapExceeded, TargetError) before anything is stopped."""
        # One seed for both sides: the identical arrival schedule (and client mix, paths).
        spec = spec.seeded()
        for side, settings in (("a", settings_a), ("b", settings_b)):
            self._check_app(settings, f"{side}.app")
        checks = (("a", self.limits.check_target, settings_a), ("b", self.limits.check_target, settings_b))
        for side, check, settings in checks:
            try:
                check(settings)
            except CapExceeded as exc:
                # Which side is over the cap, in the field's name: `a.workers`.
                where = exc.field if exc.field == "__all__" else f"{side}.{exc.field}"
                raise CapExceeded(exc.cap, exc.flag, where, exc.message) from None
        try:
            self.limits.check_burst(spec)
        except CapExceeded as exc:
            where = exc.field if exc.field == "__all__" else f"burst.{exc.field}"
            raise CapExceeded(exc.cap, exc.flag, where, exc.message) from None
        self._refuse_beside_sweep()
        if self._starting + 2 > self.limits.targets:
            raise self.limits.refuse("targets", self._starting + 2)
        for settings in (settings_a, settings_b):
            refusal = cannot_start(settings)
            if refusal is not None:
                raise TargetError(refusal)
        self._starting += 2
        try:
            async with self._lock:
                self._refuse_beside_sweep()
                return await self._compare(settings_a, settings_b, spec, concurrent)
        finally:
            self._starting -= 2

    async def _compare(
        self, settings_a: TargetSettings, settings_b: TargetSettings, spec: BurstSpec, concurrent: bool
    ) -> Comparison:
        a = Session(next(self._ids), Experiment(settings_a, app=self.apps.get(settings_a.app or "")))
        b = Session(next(self._ids), Experiment(settings_b, app=self.apps.get(settings_b.app or "")))
        comparison = Comparison(next(self._comparison_ids), a, b, spec, concurrent)
        comparison.superseded, _ = await self._supersede(f"superseded by comparison {comparison.id}")
        for session in (a, b):
            self.sessions[session.id] = session
            session.stream.start()
        self.comparisons[comparison.id] = comparison
        self.comparison = comparison
        self._prune()
        await self._notify()
        # One after the other: two targets coming up at once would slow each other's start.
        for session in (a, b):
            await self._bring_up(session)
        failed = [
            f"target {s.id} ({side.upper()}): {s.error or s.state}" for side, s in comparison.sides if not s.ready
        ]
        if failed:
            comparison.state = "failed"
            comparison.error = "; ".join(failed)
        else:
            comparison.state = "running"
            comparison.task = asyncio.create_task(self._run_comparison(comparison))
        await self._notify()
        return comparison

    async def _run_comparison(self, comparison: Comparison) -> None:
        async def fire(side: str, session: Session) -> None:
            # A side cut short before its turn (the comparison was superseded) is not fired.
            if not session.ready:
                return
            burst = self.fire(session, comparison.spec)
            comparison.bursts[side] = burst
            await next(task for task, b in session.tasks.items() if b is burst)

        try:
            if comparison.concurrent:
                await asyncio.gather(*(fire(side, session) for side, session in comparison.sides))
            else:
                for side, session in comparison.sides:
                    await fire(side, session)
            await self._record_comparison(comparison)
        except Exception as exc:
            log.exception("comparison %d failed", comparison.id)
            comparison.state = "failed"
            comparison.error = f"the comparison failed: {type(exc).__name__}: {exc}"
        # Both runs are in: the two targets have nothing left to show, and no page has a Stop
        # for them, so they go now rather than linger until the next start.
        async with self._lock:
            for _, session in comparison.sides:
                if not session.stopping:
                    await self._stop(session, f"comparison {comparison.id} ended")
        await self._notify()

    async def _record_comparison(self, comparison: Comparison) -> None:
        run_a, run_b = comparison.run_id("a"), comparison.run_id("b")
        cut = [b.cancelled for b in comparison.bursts.values() if b.cancelled]
        if cut or len(comparison.bursts) < 2:
            comparison.state = "interrupted"
            comparison.error = cut[0] if cut else "a side was never fired: the comparison was cut short"
            return
        if run_a is None or run_b is None:
            comparison.state = "failed"
            comparison.error = "a side's run could not be recorded"
            return
        try:
            a, b = await asyncio.to_thread(self.store.get, run_a), await asyncio.to_thread(self.store.get, run_b)
            if a is None or b is None:
                raise StoreError("a side's run is gone from the store")
            comparison.finding = finding(a, b)
            comparison.record_id = await asyncio.to_thread(
                ComparisonStore(self.store).save, run_a, run_b, comparison.mode, comparison.finding
            )
            comparison.state = "done"
        except StoreError as exc:
            comparison.state = "failed"
            comparison.error = f"the comparison could not be recorded: {exc}"

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
        live = [self.current] + ([self.comparison.a, self.comparison.b] if self.comparison else [])
        stopped = [s for s in self.sessions.values() if all(s is not k for k in live) and not s.tasks]
        for session in stopped[:-STOPPED_SESSIONS_KEPT]:
            del self.sessions[session.id]
        for old in [c for c in self.comparisons.values() if c is not self.comparison][:-STOPPED_SESSIONS_KEPT]:
            del self.comparisons[old.id]

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
            elif scenario is not None and scenario.compare is not None and session.versus_of is not None:
                finding = scenario.compare(session.versus_of, result)
            else:
                finding = scenario.finding(result) if scenario is not None else None
            result = result.model_copy(update={"finding": finding, "scenario": scenario.id if scenario else None})
            if scenario is not None and scenario.versus is not None and session.versus_of is None:
                if burst.cancelled is None:
                    # A task of its own: starting the next target stops this one, which waits for this task.
                    leg = asyncio.create_task(self._second_leg(scenario, scenario.versus, burst.spec, result))
                    self._second_legs.add(leg)
                    leg.add_done_callback(self._second_legs.discard)
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

    async def _second_leg(
        self, scenario: Scenario, settings: TargetSettings, spec: BurstSpec, first: RunResult
    ) -> None:
        """The identical burst at a two-target scenario's second target, once the first is done."""
        if self.current is None or self.current.scenario is not scenario:
            return  # Something else was started meanwhile: the scenario was left.
        try:
            session = await self.start(settings, scenario)
        except ConnscopeError as exc:
            self.current.error = f"the scenario's second target could not start: {exc}"
            await self._notify()
            return
        session.versus_of = first
        if session.ready:
            self.fire(session, spec, scenario)

    def measuring(self) -> bool:
        """A burst is in flight on some target, a comparison's or a sweep's cell included."""
        bursts = [b for session in self.sessions.values() for b in session.experiment.bursts]
        if self.sweep_running and self.sweep is not None and self.sweep.sweep.current is not None:
            bursts.append(self.sweep.sweep.current)
        return any(burst.ended_ns is None for burst in bursts)

    @property
    def sweep_running(self) -> bool:
        # By the sweep's state as well as its task's: the sweep's last notice is sent from its
        # task, before the task is done, and must already read as ended.
        job = self.sweep
        return job is not None and job.task is not None and not job.task.done() and job.sweep.state == "running"

    def refuse_second_sweep(self) -> None:
        if self.sweep_running:
            raise ConnscopeError(f"sweep {self.sweep.id} is running: one sweep at a time; stop it first")  # type: ignore[union-attr]

    def _refuse_beside_sweep(self) -> None:
        if self.sweep_running:
            raise TargetError(f"sweep {self.sweep.id} is running: stop it first (on /sweeps/{self.sweep.id})")  # type: ignore[union-attr]

    async def start_sweep(self, plan: Plan) -> SweepJob:
        """Starts a sweep in place of the current target or comparison: they are stopped first and any
        burst it cuts short is recorded, saying why. Raises CapExceeded for a grid over the
        caps, ConnscopeError while another sweep runs, both before anything is stopped."""
        self.limits.check_sweep(plan.runs)
        for cell in plan.cells:
            self._check_app(cell.settings)
            self.limits.check_target(cell.settings)
            self.limits.check_burst(cell.burst)
        async with self._lock:
            # Checked again under the lock: of two starts at once, the second is refused.
            self.refuse_second_sweep()
            sweep = Sweep(plan, apps=self.apps)
            data = sweep.record()
            sweep_id = await asyncio.to_thread(self.store.save_sweep, describe(data), data)
            job = SweepJob(sweep_id, sweep)
            await self._supersede(f"superseded by sweep {sweep_id}")
            self.sweep = job
            job.task = asyncio.create_task(self._run_sweep(job))
        await self._notify()
        return job

    async def _run_sweep(self, job: SweepJob) -> None:
        async def record(result: RunResult) -> int | None:
            try:
                return await asyncio.to_thread(self.store.save, result)
            except StoreError as exc:
                job.sweep.error = f"a run could not be recorded: {exc}"
                return None

        async def changed() -> None:
            data = job.record()
            try:
                await asyncio.to_thread(self.store.save_sweep, describe(data), data, job.id)
            except StoreError as exc:
                job.sweep.error = f"the sweep could not be recorded: {exc}"
            await self._notify()

        try:
            await job.sweep.run(record, changed)
        except Exception as exc:
            log.exception("sweep %d failed", job.id)
            job.sweep.fail(f"{type(exc).__name__}: {exc}")
            await changed()

    async def stop_sweep(self, why: str) -> None:
        job = self.sweep
        if job is None or job.task is None or job.task.done():
            return
        job.sweep.stop(why)
        with contextlib.suppress(asyncio.CancelledError):
            await job.task

    async def close(self) -> None:
        await self.stop_sweep("the dashboard shut down")
        await self._supersede("the dashboard shut down")

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()


def registry_of(request: Request) -> Registry:
    """The app's one registry, for route handlers."""
    registry: Registry = request.app.state.registry
    return registry
