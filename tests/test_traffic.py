"""Realistic traffic: Poisson and ramp-rate arrivals, weighted paths and client mixes, slow
clients, lognormal hold times and handler mixes. The statistics are checked on the pure
functions with large n (cheap); what needs a server is checked on real targets."""

from __future__ import annotations

import asyncio
import random
import statistics

import pytest
from pydantic import ValidationError

from app.cli import run_async
from app.experiment import Experiment
from app.result import RunResult
from app.sandbox.child.workload import _hold_seconds
from app.sandbox.settings import TargetSettings
from app.traffic.spec import BurstSpec
from app.weights import apportion, parse_weights
from tests.conftest import run_burst, state_names, time_in


def _gaps_s(offsets: list[int]) -> list[float]:
    return [(b - a) / 1e9 for a, b in zip(offsets, offsets[1:], strict=False)]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_poisson_arrivals_have_the_right_mean_and_are_exponential(seed: int) -> None:
    rate = 200.0
    gaps = _gaps_s(BurstSpec(pattern="poisson", rate=rate, connections=20_000, seed=seed).offsets_ns())
    mean = statistics.fmean(gaps)
    assert abs(mean - 1 / rate) < 0.03 / rate
    # Exponential gaps: the standard deviation equals the mean (fixed spacing would have none).
    assert abs(statistics.pstdev(gaps) / mean - 1) < 0.05
    assert min(gaps) >= 0


def test_a_seeded_schedule_is_the_same_twice_and_another_seed_differs() -> None:
    spec = BurstSpec(pattern="poisson", rate=50, connections=2_000, mix="normal:90,slow:10", paths="/:80,/a:20")
    first = spec.model_copy(update={"seed": 7})
    again = BurstSpec.model_validate_json(first.model_dump_json())
    assert first.offsets_ns() == again.offsets_ns()
    assert first.client_kinds() == again.client_kinds()
    assert first.request_paths() == again.request_paths()
    other = spec.model_copy(update={"seed": 8})
    assert other.offsets_ns() != first.offsets_ns()
    # A run records the seed it used: one is chosen when none was given, a given one is kept.
    assert spec.seeded().seed is not None
    assert first.seeded() is first


def test_ramp_rate_goes_from_rate_to_rate_end() -> None:
    spec = BurstSpec(pattern="ramp-rate", rate=10, rate_end=100, connections=1_001)
    offsets = spec.offsets_ns()
    gaps = _gaps_s(offsets)
    assert offsets[0] == 0 and all(g > 0 for g in gaps)
    assert abs(1 / gaps[0] - 10) < 0.5
    assert abs(1 / gaps[-1] - 100) < 1
    # The mean rate of a linear ramp is the mean of its ends: 1000 gaps in 2·1000/110 s.
    assert abs(offsets[-1] / 1e9 - 2_000 / 110) < 1e-3
    assert spec.duration_s == pytest.approx(offsets[-1] / 1e9)
    falling = BurstSpec(pattern="ramp-rate", rate=100, rate_end=10, connections=1_001).offsets_ns()
    assert abs(1 / (_gaps_s(falling)[-1]) - 10) < 0.5


def test_fields_a_pattern_does_not_use_are_not_validated_for_it() -> None:
    assert BurstSpec(pattern="burst", rate="", ramp_s=-1).pattern == "burst"
    assert BurstSpec.model_validate({"pattern": "poisson", "ramp_s": "", "rate": 5}).rate == 5
    with pytest.raises(ValidationError, match="rate"):
        BurstSpec(pattern="rate", rate=0)
    with pytest.raises(ValidationError, match="Required for the ramp-rate pattern"):
        BurstSpec(pattern="ramp-rate", rate=10)


def test_weighted_choices_split_exactly_and_bad_ones_say_why() -> None:
    spec = BurstSpec(connections=10_000, paths="/:80,/api:20", seed=1)
    paths = [p for per in spec.request_paths() for p in per]
    assert (paths.count("/"), paths.count("/api")) == (8_000, 2_000)
    # Shuffled, not in blocks.
    assert paths[:100].count("/api") not in (0, 100)
    assert BurstSpec(connections=10, mix="normal:90,slow:10", seed=3).client_kinds().count("slow") == 1
    assert BurstSpec(connections=7, requests_per_connection=3, paths="/x:1,/y:2", seed=3).request_paths()[0][0] in (
        "/x",
        "/y",
    )
    assert sorted(apportion([("a", 1), ("b", 1), ("c", 1)], 4, random.Random(1))).count("a") in (1, 2)
    assert parse_weights("async:90, blocking:10") == [("async", 90), ("blocking", 10)]
    for bad, message in [
        ("normal:90,fast:10", "'fast' is not one of normal, slow"),
        ("normal", "write name:weight"),
        ("normal:0", "at least one weight must be above 0"),
        ("normal:1,normal:2", "listed twice"),
    ]:
        with pytest.raises(ValidationError, match=message):
            BurstSpec(mix=bad)
    with pytest.raises(ValidationError, match="holds no spaces or commas"):
        BurstSpec(paths="/:1,/a b:1")
    with pytest.raises(ValidationError, match="'fiber' is not one of async, blocking, cpu, sync"):
        TargetSettings(handler_mix="async:90,fiber:10")


def test_lognormal_hold_times_have_the_given_p50_and_p99() -> None:
    settings = TargetSettings(latency="lognormal", handler_ms=40, handler_p99_ms=400)
    rng = random.Random(11)
    holds = sorted(_hold_seconds(settings, rng) * 1000 for _ in range(40_000))
    p50, p99 = holds[len(holds) // 2], holds[int(len(holds) * 0.99)]
    assert abs(p50 - 40) < 40 * 0.03
    assert abs(p99 - 400) < 400 * 0.08
    with pytest.raises(ValidationError, match="Must be at least handler_ms"):
        TargetSettings(latency="lognormal", handler_ms=40, handler_p99_ms=30)
    with pytest.raises(ValidationError, match="Required for the lognormal latency"):
        TargetSettings(latency="lognormal", handler_ms=40)
    # The same seed draws the same hold times.
    first, again = random.Random(5), random.Random(5)
    assert [_hold_seconds(settings, first) for _ in range(5)] == [_hold_seconds(settings, again) for _ in range(5)]


@pytest.mark.target
def test_a_handler_mix_and_weighted_paths_on_a_real_target() -> None:
    # 10 requests at once, each holding 100 ms; handler_seed 3 draws 4 blocking of the 10
    # (random.Random(3), weights 50:50), which block the loop one after another.
    rng = random.Random(3)
    assert [rng.choices(["async", "blocking"], cum_weights=[50, 100])[0] for _ in range(10)].count("blocking") == 4
    result = run_burst(
        {"handler_mix": "async:50,blocking:50", "handler_ms": 100, "handler_seed": 3, "loop": "asyncio"},
        {"connections": 10, "paths": "/a:30,/b:70", "method": "POST", "seed": 4},
    )
    paths = [c["requests"][0]["path"] for c in result["connections"]]
    assert (paths.count("/a"), paths.count("/b")) == (3, 7)
    assert result["burst"]["seed"] == 4
    assert result["totals"]["ok"] == 10
    assert all("active" in state_names(c) for c in result["connections"])
    # All async would end by ~100 ms, all blocking by ~1 s: 4 blocking take about 400 ms.
    slowest = max(c["requests"][0]["latency_ms"] for c in result["connections"])
    assert 380 < slowest < 750


@pytest.mark.target
def test_slow_clients_hold_connections_and_so_the_limit() -> None:
    """limit_concurrency 2; two clients dribble their headers over 1 s; a normal request
    comes 0.3 s in. Measured 12 of 12 times (uvloop and asyncio, httptools and h11): the
    normal request is turned away at once. uvicorn counts every open connection, headers
    still being read included, so the two slow ones already fill the limit. When their
    headers are complete they meet each other: 11 of 12 times both got 503, once the second
    was served after the first's 503 had closed."""

    async def main() -> tuple[RunResult, RunResult]:
        async with Experiment(TargetSettings(limit_concurrency=2, handler_ms=100)) as experiment:
            slow = experiment.add_burst(BurstSpec(connections=2, mix="slow:1", slow_s=1.0))
            normal = experiment.add_burst(BurstSpec(connections=1))
            slow_task = asyncio.create_task(experiment.fire(slow))
            await asyncio.sleep(0.3)
            await experiment.fire(normal)
            await slow_task
            return experiment.result(slow), experiment.result(normal)

    slow, normal = (r.model_dump(mode="json") for r in run_async(main))
    (late,) = normal["connections"]
    assert late["client"] == "normal"
    assert late["requests"][0]["outcome"] == "rejected"
    assert late["requests"][0]["latency_ms"] < 300, "turned away at once, not after a slow client's headers"
    assert "active" not in state_names(late)
    for connection in slow["connections"]:
        assert connection["client"] == "slow"
        # The connection is held (accepted, its headers being read) for the whole dribble.
        assert time_in(connection, "accepted") > 900
        assert connection["requests"][0]["latency_ms"] > 950
    assert "rejected" in [c["requests"][0]["outcome"] for c in slow["connections"]]
