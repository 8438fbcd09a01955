"""No target beside a running sweep, even one asked for while the sweep is starting: a
comparison or a target whose request arrives while the sweep's start holds the registry's
lock (writing its record, stopping the live target) is refused once it gets the lock,
instead of running its targets and bursts beside the sweep's cells on the same two cores."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from app.errors import TargetError
from app.sandbox.settings import TargetSettings
from app.store import RunStore
from app.sweep import plan
from app.traffic.spec import BurstSpec
from app.web.app import create_app
from app.web.registry import Registry

pytestmark = pytest.mark.target

SETTINGS = TargetSettings(loop="asyncio", handler_ms=200)


def _while_a_sweep_starts(tmp_path: Path, ask: Callable[[Registry], Awaitable[Any]]) -> tuple[str, int]:
    """Asks for something while a sweep's start holds the lock; returns the refusal and
    how many targets other than the sweep's were alive while the sweep ran."""

    async def go() -> tuple[str, int]:
        app = create_app(store=RunStore(tmp_path / "runs.sqlite3"))
        async with app.router.lifespan_context(app):
            registry: Registry = app.state.registry
            grid = plan({"loop": ["asyncio"], "handler_ms": ["200"]}, {"connections": ["2"]})
            starting = asyncio.create_task(registry.start_sweep(grid))
            await asyncio.sleep(0)  # the sweep's start now holds the lock, writing its record
            assert not starting.done() and registry._lock.locked()
            try:
                await ask(registry)
                refusal = ""
            except TargetError as exc:
                refusal = str(exc)
            job = await starting
            beside = sum(1 for s in registry.sessions.values() if s.ready)
            await registry.stop_sweep("the test is over")
            assert job.task is not None
            return refusal, beside

    return asyncio.run(go())


def test_a_comparison_asked_for_while_a_sweep_starts_is_refused(tmp_path: Path) -> None:
    refusal, beside = _while_a_sweep_starts(
        tmp_path, lambda registry: registry.compare(SETTINGS, SETTINGS, BurstSpec(connections=2))
    )
    assert refusal.startswith("sweep 1 is running: stop it first")
    assert beside == 0


def test_a_target_asked_for_while_a_sweep_starts_is_refused(tmp_path: Path) -> None:
    refusal, beside = _while_a_sweep_starts(tmp_path, lambda registry: registry.start(SETTINGS))
    assert refusal.startswith("sweep 1 is running: stop it first")
    assert beside == 0


def test_a_sweeps_last_notice_already_reads_as_ended(tmp_path: Path) -> None:
    """The live page's viewers wake on the registry's notices and ask whether a sweep has the
    dashboard. The last notice is sent from the sweep's own task, before that task is done: it
    must already say the sweep has ended, or an audience would be left pointed at it."""

    async def go() -> list[tuple[str, bool]]:
        app = create_app(store=RunStore(tmp_path / "runs.sqlite3"))
        async with app.router.lifespan_context(app):
            registry: Registry = app.state.registry
            seen: list[tuple[str, bool]] = []
            notify = registry._notify

            async def noting() -> None:
                if registry.sweep is not None:
                    seen.append((registry.sweep.sweep.state, registry.sweep_running))
                await notify()

            registry._notify = noting  # type: ignore[method-assign]
            job = await registry.start_sweep(plan({"loop": ["asyncio"]}, {"connections": ["1"]}))
            assert job.task is not None
            await job.task
            return seen

    seen = asyncio.run(go())
    assert seen[-1] == ("done", False), seen
    assert all(running for state, running in seen if state == "running"), seen
