"""No full garbage collection while a burst runs: its pause would land in the latency of
every request in flight (the client stamps them on the control app's loop)."""

from __future__ import annotations

import asyncio
import gc

import pytest

from app.experiment import Experiment
from app.sandbox.settings import TargetSettings
from app.traffic.collector import GENERATIONAL, NEVER, full_collections_held
from app.traffic.spec import BurstSpec

pytestmark = [pytest.mark.skipif(not GENERATIONAL, reason="an incremental collector has no full collection to hold")]


def test_holds_nest_and_the_last_release_restores_the_thresholds() -> None:
    young, middle, oldest = gc.get_threshold()
    assert oldest != NEVER, "no hold left over from another test"
    with full_collections_held():
        assert gc.get_threshold() == (young, middle, NEVER)
        with full_collections_held():
            assert gc.get_threshold()[2] == NEVER
        assert gc.get_threshold()[2] == NEVER, "another burst still runs"
    assert gc.get_threshold() == (young, middle, oldest)


def test_bursts_that_keep_overlapping_past_the_bound_let_one_full_collection_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a bound, overlapping bursts would hold full collections off for as long as
    they overlap."""
    from app.traffic import collector

    full: list[int] = []

    def probe(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append(1)

    gc.callbacks.append(probe)
    try:
        with full_collections_held():
            with full_collections_held():
                pass
            assert full == [], "within the bound: held"
            monkeypatch.setattr(collector, "MAX_HOLD_S", 0.0)
            with full_collections_held():
                pass
            assert full == [1], "past it: the burst that ended let one run"
            assert gc.get_threshold()[2] == NEVER, "and the hold goes on for the burst still running"
    finally:
        gc.callbacks.remove(probe)


def test_a_threshold_set_during_a_hold_is_left_as_set() -> None:
    young, middle, oldest = gc.get_threshold()
    try:
        with full_collections_held():
            gc.set_threshold(young, middle, 25)
        assert gc.get_threshold() == (young, middle, 25)
    finally:
        gc.set_threshold(young, middle, oldest)


async def _watch_thresholds(firing: asyncio.Task[object], cancel_after_s: float | None = None) -> list[int]:
    seen: list[int] = []
    began = asyncio.get_running_loop().time()
    while not firing.done():
        seen.append(gc.get_threshold()[2])
        if cancel_after_s is not None and asyncio.get_running_loop().time() - began > cancel_after_s:
            firing.cancel()
        await asyncio.sleep(0.05)
    return seen


@pytest.mark.target
@pytest.mark.parametrize("cancelled", [False, True])
def test_a_real_burst_holds_full_collections_until_it_ends_or_is_cancelled(cancelled: bool) -> None:
    oldest = gc.get_threshold()[2]

    async def scenario() -> list[int]:
        async with Experiment(TargetSettings(handler_ms=300, loop="asyncio")) as experiment:
            burst = experiment.add_burst(BurstSpec(connections=3, pattern="burst"))
            firing = asyncio.create_task(experiment.fire(burst))
            seen = await _watch_thresholds(firing, 0.1 if cancelled else None)
            if cancelled:
                assert firing.cancelled()
            else:
                await firing
                assert experiment.result(burst).totals.ok == 3
        return seen

    seen = asyncio.run(scenario())
    assert NEVER in seen and set(seen[1:-1]) <= {NEVER}, seen
    assert gc.get_threshold()[2] == oldest, "restored once the burst ended"
