"""The app's one registry of targets and the bursts fired at them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from app.experiment import Experiment, cannot_start
from app.sandbox.settings import TargetSettings
from app.sandbox.target import TargetError
from app.scenarios import Scenario, interrupted_finding
from app.store import RunStore
from app.stream import Stream
from app.traffic.burst import Burst
from app.traffic.spec import BurstSpec

TAIL_LINES_SHOWN = 40


@dataclass
class Session:
    """One target with its timeline, its live stream and its bursts."""

    id: int
    experiment: Experiment
    error: str | None = None
    tasks: set[asyncio.Task[Burst]] = field(default_factory=set)
    scenario: Scenario | None = None
    run_ids: dict[int, int | None] = field(default_factory=dict)
    """Burst id → its recorded run (None when the store could not take it)."""
    findings: dict[int, str | None] = field(default_factory=dict)
    interrupted: str | None = None
    """What starting this target cut short on the one before: its bursts' findings."""

    def __post_init__(self) -> None:
        self.stream = Stream(self.experiment.timeline, self.status)

    @property
    def settings(self) -> TargetSettings:
        return self.experiment.settings

    @property
    def ready(self) -> bool:
        return self.experiment.target.ready

    def status(self) -> dict[str, Any]:
        target = self.experiment.target
        return {
            "id": self.id,
            "state": target.status.state,
            "port": target.port,
            "pid": target.status.pid,
            "exit": target.status.describe_exit(),
            "isolation": target.status.isolation,
            "error": self.error,
            "output_tail": target.output_tail[-TAIL_LINES_SHOWN:] if target.status.state == "crashed" else [],
            "settings": self.settings.model_dump(),
            "capacity": self.experiment.capacity,
            "bursts": [
                burst_status(b, self.run_ids) | {"finding": self.findings.get(b.id)} for b in self.experiment.bursts
            ],
        }

    def burst(self, burst_id: int) -> Burst | None:
        return next((b for b in self.experiment.bursts if b.id == burst_id), None)

    @property
    def running(self) -> list[Burst]:
        return [b for b in self.experiment.bursts if b.id not in self.run_ids]


def burst_status(burst: Burst, run_ids: dict[int, int | None]) -> dict[str, Any]:
    """`done` once the result is final and recorded: what the API then returns is the run."""
    return {
        "id": burst.id,
        "planned": burst.spec.connections,
        "finished": burst.finished_connections,
        "done": burst.id in run_ids,
        "run_id": run_ids.get(burst.id),
        "pattern": burst.spec.pattern,
    }


@dataclass
class Registry:
    store: RunStore
    sessions: dict[int, Session] = field(default_factory=dict)
    current: Session | None = None
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    async def start(self, settings: TargetSettings, scenario: Scenario | None = None) -> Session:
        """Replaces the current target with a new one (two cores do not run two targets
        fairly); bursts still running on the old one are cancelled, and say so. A target
        that fails to start is kept, with its error, so it can be shown."""
        async with self._lock:
            refusal = cannot_start(settings)
            if refusal is not None:
                # Refused before anything is stopped: the running experiment stays.
                raise TargetError(refusal)
            session_id = next(self._ids)
            interrupted = None
            if self.current is not None:
                previous = self.current
                why = f"superseded by target {session_id}" + (f" (scenario {scenario.id})" if scenario else "")
                cut = await self._stop(previous, why)
                await previous.stream.close()
                interrupted = " ".join(f for b in cut if (f := previous.findings.get(b.id))) or None
            session = Session(session_id, Experiment(settings), scenario=scenario, interrupted=interrupted)
            self.sessions[session.id] = session
            self.current = session
            session.stream.start()
            await self._notify()
            try:
                await session.experiment.start()
            except (TargetError, OSError) as exc:
                session.error = str(exc)
                await session.experiment.stop()
            await self._notify()
            return session

    async def stop(self, session: Session) -> None:
        async with self._lock:
            await self._stop(session, "target stopped")
            await self._notify()

    async def _stop(self, session: Session, why: str) -> list[Burst]:
        """Stops a target; returns the bursts it cut short, each recorded with `why`."""
        cut = session.running
        for burst in cut:
            burst.cancelled = why
        for task in session.tasks:
            task.cancel()
        for task in list(session.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await session.experiment.stop()
        return cut

    def fire(self, session: Session, spec: BurstSpec, scenario: Scenario | None = None) -> Burst:
        burst = session.experiment.add_burst(spec)
        task = asyncio.create_task(self._fire_and_record(session, burst, scenario))
        session.tasks.add(task)
        task.add_done_callback(session.tasks.discard)
        return burst

    async def _fire_and_record(self, session: Session, burst: Burst, scenario: Scenario | None) -> Burst:
        run_id: int | None = None
        cancelled = False
        try:
            try:
                await session.experiment.fire(burst)
            except asyncio.CancelledError:
                # Cut short by a new target or Stop: recorded as it stood, labelled so.
                cancelled = True
            result = session.experiment.result(burst)
            if burst.cancelled is not None:
                result = {"finding": interrupted_finding(burst.id, scenario, result)} | result
            elif scenario is not None:
                result = {"finding": scenario.finding(result)} | result
            if scenario is not None:
                result = {"scenario": scenario.id} | result
            session.findings[burst.id] = result.get("finding")
            # SQLite writes are quick but blocking: keep them off the loop the bursts run on.
            run_id = await asyncio.to_thread(self.store.save, result)
        except (OSError, sqlite3.Error) as exc:
            session.error = f"burst {burst.id} could not be recorded: {exc}"
        finally:
            session.run_ids[burst.id] = run_id
        await self._notify()
        if cancelled:
            raise asyncio.CancelledError
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
