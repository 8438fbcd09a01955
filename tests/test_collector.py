"""No full garbage collection while a burst runs: its pause would land in the latency of
every request in flight (the client stamps them on the control app's loop)."""

from __future__ import annotations

import asyncio
import gc

import pytest

from app.experiment import Experiment
from app.sandbox.settings import TargetSettings
from app.traffic.collector import NEVER, full_collections_held
from app.traffic.spec import BurstSpec

pytestmark = [pytest.mark.target]


def test_holds_nest_and_the_last_release_restores_the_thresholds() -> None:
    before = gc.get_threshold()
    with full_collections_held():
        assert gc.get_threshold() == (before[0], before[1], NEVER)
        with full_collections_held():
            assert gc.get_threshold()[2] == NEVER
        assert gc.get_threshold()[2] == NEVER, "another burst still runs"
    assert gc.get_threshold() == before


def test_a_real_burst_holds_full_collections_until_it_ends() -> None:
    before = gc.get_threshold()

    async def scenario() -> list[int]:
        seen: list[int] = []
        async with Experiment(TargetSettings(handler_ms=300, loop="asyncio")) as experiment:
            burst = experiment.add_burst(BurstSpec(connections=3, pattern="burst"))
            firing = asyncio.create_task(experiment.fire(burst))
            while not firing.done():
                seen.append(gc.get_threshold()[2])
                await asyncio.sleep(0.05)
            await firing
            assert experiment.result(burst).totals.ok == 3
        return seen

    seen = asyncio.run(scenario())
    assert seen and set(seen[1:-1]) == {NEVER}, seen
    assert gc.get_threshold() == before, "restored once the burst ended"
