"""What the server witness costs: an instrumented target against a plain one, both with the
issue's workload (async handler, 0 ms, uvloop, backlog 4096), on targets of their own each round.

`python3 -m bench.witness [--side-by-side-rounds N] [--rounds N] [--seconds S] [--fixed-load-pairs N]`.
The instrumented one has `instrument` true: uvicorn's protocol subclass and the ASGI wrapper
report every accepted/enter/leave/closed to this process, which reads and decodes them as
the dashboard does. Three measures, each a ratio per round:
- side by side (the steadiest): both targets at once on one core, each saturated by a
  `wrk -t1 -c50` of its own on the other; the core's noise lands on both alike;
- alternating: `wrk -t1 -c50` on each in turn, the order swapped every round, wrk alone on
  its core (the issue's method, and the p99 latency);
- at a fixed offered load from connscope's own client: the targets' CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import resource
from collections.abc import AsyncIterator
from dataclasses import dataclass

import psutil

from app.cli import raise_open_file_limit, run_async
from app.experiment import Experiment
from app.sandbox.apps import UserApp, user_app
from app.sandbox.settings import TargetSettings
from app.traffic.spec import BurstSpec
from bench.common import WRK, interval_text, spread, workload, write

GOAL_RATIO = 0.95
GOAL_P99 = 1.10


async def _wrk(port: int, seconds: float) -> dict[str, float]:
    """wrk as a child of this loop, so the instrumented target's reports are read meanwhile."""
    proc = await asyncio.create_subprocess_exec(
        WRK,
        "-t1",
        "-c50",
        f"-d{seconds:g}s",
        "--latency",
        f"http://127.0.0.1:{port}/",
        stdout=asyncio.subprocess.PIPE,
        preexec_fn=_wrk_cores,
    )
    out = (await proc.communicate())[0].decode()
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)$", out, re.M)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"^\s*(\d+) requests in", out, re.M)
    if rate is None or p99 is None or total is None:
        raise RuntimeError(f"wrk printed no figures:\n{out}")
    return {
        "req_s": float(rate.group(1)),
        "p99_ms": float(p99.group(1)) * units[p99.group(2)],
        "requests": int(total.group(1)),
    }


async def measure(rounds: int, seconds: float, app: UserApp | None = None) -> list[dict[str, float]]:
    rows = []
    for number in range(rounds):
        figures = await _round(seconds, number % 2 == 1, app)
        on, off = figures[True], figures[False]
        row = {
            "instrumented_req_s": round(on["req_s"]),
            "plain_req_s": round(off["req_s"]),
            "ratio": round(on["req_s"] / off["req_s"], 3),
            "instrumented_p99_ms": on["p99_ms"],
            "plain_p99_ms": off["p99_ms"],
            "p99_ratio": round(on["p99_ms"] / off["p99_ms"], 3),
            "instrumented_target_us_per_request": round(on["target_us"], 2),
            "plain_target_us_per_request": round(off["target_us"], 2),
            "cpu_ratio": round(off["target_us"] / on["target_us"], 3),
            "events_read": on["events"],
            "control_app_cpu_share": round(on["control_cpu"], 3),
        }
        rows.append(row)
        print(
            f"round {number + 1:>2}: instrumented {row['instrumented_req_s']:>7,} req/s p99 "
            f"{on['p99_ms']:6.2f} ms ({on['events']:,} reports read, {on['control_cpu']:.0%} of a core)   "
            f"plain {row['plain_req_s']:>7,} req/s "
            f"p99 {off['p99_ms']:6.2f} ms   ratio {row['ratio']:.3f}   target CPU per request "
            f"{on['target_us']:.1f} vs {off['target_us']:.1f} µs ({row['cpu_ratio']:.3f})",
            flush=True,
        )
    return rows


async def _round(seconds: float, instrumented_first: bool, app: UserApp | None) -> dict[bool, dict[str, float]]:
    """One pair, on targets of its own: a process keeps its own pace all its life (its hash
    seed, where its memory landed), up to ±3% between two plain ones, so targets kept for
    every round would tilt every ratio the same way."""
    async with _pair(app) as (plain, witnessed, reports):
        _pin(plain, witnessed)
        for experiment in (plain, witnessed):
            await _wrk(experiment.target.port, 1)
        figures = {}
        for experiment in [witnessed, plain] if instrumented_first else [plain, witnessed]:
            events_before, cpu_before = reports.read, _cpu_s()
            target_before = _target_cpu_s(experiment)
            figures[experiment is witnessed] = ran = await _wrk(experiment.target.port, seconds)
            ran["events"] = reports.read - events_before
            ran["control_cpu"] = (_cpu_s() - cpu_before) / seconds
            ran["target_us"] = (_target_cpu_s(experiment) - target_before) / ran["requests"] * 1e6
        return figures


@dataclass
class _Reports:
    """The instrumented target's reports, counted as they are read: the dashboard's timeline
    reads every one, and counting them keeps the reading honest."""

    read: int = 0

    def count(self, _event: object) -> None:
        self.read += 1


@contextlib.asynccontextmanager
async def _pair(app: UserApp | None) -> AsyncIterator[tuple[Experiment, Experiment, _Reports]]:
    """A plain target and an instrumented one, fresh and started, stopped at the end."""
    plain, witnessed = _experiment(False, app), _experiment(True, app)
    reports = _Reports()
    witnessed.target.on_event = reports.count
    await plain.start()
    try:
        await witnessed.start()
        try:
            yield plain, witnessed, reports
        finally:
            await witnessed.stop()
    finally:
        await plain.stop()


CORES = sorted(os.sched_getaffinity(0))
"""The cores at the start: `_pin` narrows this process's own set, and every round pins again."""


def _pin(*experiments: Experiment) -> None:
    """The targets and this process (the reports' reader, as the dashboard would be) on the
    last core, wrk alone on the others. The witness's whole cost, the target's reporting
    and the control app's reading, then lands on the side measured, and the reference
    instrument runs undisturbed (with the reader on wrk's core, a wrk slowed a little hands
    the instrumented target smaller batches); the scheduler's placement no longer varies by
    round."""
    if len(CORES) < 2:
        return
    for experiment in experiments:
        _pin_target(experiment)
    os.sched_setaffinity(0, CORES[-1:])


def _pin_target(experiment: Experiment) -> None:
    for process in _processes(experiment):
        process.cpu_affinity(CORES[-1:])


def _wrk_cores() -> None:
    """In wrk's process before it runs: every core but the targets'."""
    if len(CORES) >= 2:
        os.sched_setaffinity(0, CORES[:-1])


async def side_by_side(rounds: int, seconds: float, app: UserApp | None = None) -> list[dict[str, float]]:
    """Both targets at once on the one core, each saturated by a wrk of its own on the other.

    The scheduler gives two busy processes on a core equal CPU time, so the ratio of their
    paces is the ratio of their CPU per request, the witness's cost to the target, and
    whatever slows the machine in a round (another guest's steal, the host's clock) slows
    both alike: alternating runs cannot cancel that, which is most of their spread. The
    reports' reader sits with the wrks; its CPU is a figure of its own."""
    rows = []
    for number in range(rounds):
        async with _pair(app) as (plain, witnessed, reports):
            for experiment in (plain, witnessed):
                _pin_target(experiment)
            os.sched_setaffinity(0, CORES[:-1] or CORES)
            await asyncio.gather(_wrk(plain.target.port, 1), _wrk(witnessed.target.port, 1))
            events_before, cpu_before = reports.read, _cpu_s()
            before = {id(e): _target_cpu_s(e) for e in (plain, witnessed)}
            off, on = await asyncio.gather(_wrk(plain.target.port, seconds), _wrk(witnessed.target.port, seconds))
            for ran, experiment in ((off, plain), (on, witnessed)):
                used = _target_cpu_s(experiment) - before[id(experiment)]
                ran["target_us"] = used / ran["requests"] * 1e6
                ran["target_cores"] = used / seconds
            events = reports.read - events_before
        row = {
            "instrumented_req_s": round(on["req_s"]),
            "plain_req_s": round(off["req_s"]),
            "ratio": round(on["req_s"] / off["req_s"], 3),
            "instrumented_target_us_per_request": round(on["target_us"], 2),
            "plain_target_us_per_request": round(off["target_us"], 2),
            "cpu_ratio": round(off["target_us"] / on["target_us"], 3),
            "instrumented_target_cores": round(on["target_cores"], 3),
            "plain_target_cores": round(off["target_cores"], 3),
            "events_read": events,
            "reader_cpu_share": round((_cpu_s() - cpu_before) / seconds, 3),
        }
        rows.append(row)
        print(
            f"side by side {number + 1:>2}: instrumented {row['instrumented_req_s']:>7,} req/s "
            f"({on['target_cores']:.0%} of the core)   plain {row['plain_req_s']:>7,} req/s "
            f"({off['target_cores']:.0%})   ratio {row['ratio']:.3f}   CPU per request "
            f"{on['target_us']:.1f} vs {off['target_us']:.1f} µs ({row['cpu_ratio']:.3f})   "
            f"{events:,} reports read, {row['reader_cpu_share']:.0%} of a core",
            flush=True,
        )
    return rows


FIXED_LOAD = BurstSpec(connections=40, pattern="burst", requests_per_connection=300, pause_ms=8, client_timeout_s=30)
"""connscope's own client, each of 40 keep-alive connections sending a request every ~8 ms
(about 4,500 a second on this machine, well under either target's pace): both targets get
the same offered load, so their CPU per request compares their own work at the same batch
sizes, which wrk's saturation does not hold equal."""


async def fixed_load(pairs: int, app: UserApp | None = None) -> list[dict[str, float]]:
    rows = []
    for number in range(pairs):
        order = [False, True] if number % 2 == 0 else [True, False]
        per_request = {instrument: await _fixed_load_run(instrument, app) for instrument in order}
        row = {
            "plain_target_us_per_request": round(per_request[False], 2),
            "instrumented_target_us_per_request": round(per_request[True], 2),
            "cpu_ratio": round(per_request[False] / per_request[True], 3),
        }
        rows.append(row)
        print(
            f"fixed load {number + 1:>2}: target CPU per request instrumented "
            f"{row['instrumented_target_us_per_request']:.1f} vs plain {row['plain_target_us_per_request']:.1f} µs "
            f"({row['cpu_ratio']:.3f})",
            flush=True,
        )
    return rows


async def _fixed_load_run(instrument: bool, app: UserApp | None) -> float:
    """The target's CPU per request (µs) over one FIXED_LOAD burst, after a short warm-up."""
    experiment = _experiment(instrument, app)
    await experiment.start()
    try:
        # The client and the reader here, the target alone on its core.
        _pin_target(experiment)
        os.sched_setaffinity(0, CORES[:-1] or CORES)
        await experiment.fire(experiment.add_burst(FIXED_LOAD.model_copy(update={"requests_per_connection": 20})))
        before = _target_cpu_s(experiment)
        burst = experiment.add_burst(FIXED_LOAD)
        await experiment.fire(burst)
        requests = experiment.result(burst).totals.requests
        return (_target_cpu_s(experiment) - before) / requests * 1e6
    finally:
        await experiment.stop()


HELLO = user_app("bench.apps.hello:app")
"""`--app`: a user's own app that answers at once (installed with the repository, so no
--app-dir): its instrumented targets run what a user's app gets, the watchdog included."""


def _experiment(instrument: bool, app: UserApp | None) -> Experiment:
    """A target with the issue's settings serving the workload, or `app`."""
    settings = TargetSettings(**workload(instrument=instrument, app=app.name if app else None))
    return Experiment(settings, app=app)


def _processes(experiment: Experiment) -> list[psutil.Process]:
    """The target's server process and its workers."""
    runner = psutil.Process(experiment.target.status.pid)
    return [runner, *runner.children(recursive=True)]


def _target_cpu_s(experiment: Experiment) -> float:
    """CPU time of the target's server process and its workers."""
    return sum(sum(p.cpu_times()[:2]) for p in _processes(experiment))


def _cpu_s() -> float:
    """CPU time of this process (the control app's side: reading and decoding reports)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _summary(label: str, figures: dict[str, float], unit: str = "pairs") -> str:
    return (
        f"{label}: median {figures['median']:.3f}× (range {figures['min']:.3f}–{figures['max']:.3f}, "
        f"{figures['n']} {unit}{interval_text(figures)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=12, help="alternating pairs")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument(
        "--side-by-side-rounds", type=int, default=12, metavar="N", help="rounds with both targets at once (0: none)"
    )
    parser.add_argument(
        "--fixed-load-pairs", type=int, default=8, metavar="N", help="pairs at a fixed offered load (0: none)"
    )
    parser.add_argument(
        "--app",
        action="store_true",
        help="a user's own app (bench/apps/hello.py, answers at once) instead of the workload: its targets "
        "run the watchdog a user's app gets",
    )
    args = parser.parse_args()
    app = HELLO if args.app else None
    raise_open_file_limit()
    both = (
        run_async(lambda: side_by_side(args.side_by_side_rounds, args.seconds, app)) if args.side_by_side_rounds else []
    )
    rows = run_async(lambda: measure(args.rounds, args.seconds, app)) if args.rounds else []
    fixed = run_async(lambda: fixed_load(args.fixed_load_pairs, app)) if args.fixed_load_pairs else []
    together = spread([r["ratio"] for r in both]) if both else None
    together_cpu = spread([r["cpu_ratio"] for r in both]) if both else None
    ratio = spread([r["ratio"] for r in rows]) if rows else None
    p99 = spread([r["p99_ratio"] for r in rows]) if rows else None
    cpu = spread([r["cpu_ratio"] for r in rows]) if rows else None
    fixed_cpu = spread([r["cpu_ratio"] for r in fixed]) if fixed else None
    if together is not None and together_cpu is not None:
        reader = spread([r["reader_cpu_share"] for r in both])
        print(_summary("side by side, instrumented / plain throughput", together, "rounds"))
        print(_summary("side by side, plain / instrumented target CPU per request", together_cpu, "rounds"))
        print(f"  the reports' reader: {reader['median']:.1%} of a core (median)")
    if ratio is not None and p99 is not None and cpu is not None:
        print(_summary("alternating, instrumented / plain throughput", ratio))
        print(_summary("alternating, instrumented / plain p99 latency", p99) + f"; goal ≤ {GOAL_P99}×")
        print(_summary("alternating, plain / instrumented target CPU per request", cpu))
    if fixed_cpu is not None:
        print(_summary("plain / instrumented target CPU per request at a fixed load", fixed_cpu))
    print(f"goal: instrumented / plain ≥ {GOAL_RATIO}×")
    write(
        "witness",
        {
            "what": (
                f"wrk -t1 -c50 -d{args.seconds:g}s on an instrumented and a plain target: side by side on one "
                "core, then alternating, then the targets' CPU per request at a fixed offered load"
            ),
            "target": workload(app=app.name if app else None),
            "goal_ratio": GOAL_RATIO,
            "goal_p99_ratio": GOAL_P99,
            "side_by_side": {"rounds": both, "ratio": together, "cpu_ratio": together_cpu},
            "rounds": rows,
            "ratio": ratio,
            "p99_ratio": p99,
            "cpu_ratio": cpu,
            "fixed_load": {"burst": FIXED_LOAD.model_dump(mode="json"), "pairs": fixed, "cpu_ratio": fixed_cpu},
            "instrumented_req_s": spread([r["instrumented_req_s"] for r in rows]) if rows else None,
            "plain_req_s": spread([r["plain_req_s"] for r in rows]) if rows else None,
        },
    )


if __name__ == "__main__":
    main()
