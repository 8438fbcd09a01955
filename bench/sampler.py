"""What the kernel witness costs the control app: its sampler thread's CPU while wrk drives
the target, sampling as it does now against a full dump on every tick (as it did before),
alternating, in the same run.

`python3 -m bench.sampler [--rounds N] [--seconds S]`. Two loads: 50 keep-alive
connections (`wrk -t1 -c50`, the stream's and the witness's burst) and 50 connections that
each close after one request (`Connection: close`), where every tick has news.
"""

from __future__ import annotations

import argparse
import asyncio

from app.cli import raise_open_file_limit, run_async
from app.experiment import Experiment
from app.kernel import sampler
from app.kernel.sampler import KernelSampler
from app.sandbox.settings import TargetSettings
from bench.common import WRK, spread, workload, write

LOADS = {"keep-alive": [], "close": ["-H", "Connection: close"]}


async def _round(port: int, always_full: bool, load: str, seconds: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    watcher = KernelSampler(port, lambda *_: None)
    saved = sampler.FULL_DUMP_AT_LEAST_S
    sampler.FULL_DUMP_AT_LEAST_S = 0.0 if always_full else saved
    try:
        wrk = await asyncio.create_subprocess_exec(
            WRK,
            "-t1",
            "-c50",
            f"-d{seconds:g}s",
            *LOADS[load],
            f"http://127.0.0.1:{port}/",
            stdout=asyncio.subprocess.DEVNULL,
        )
        watcher.start(loop)
        await wrk.wait()
        watcher.stop()
    finally:
        sampler.FULL_DUMP_AT_LEAST_S = saved
    return {
        "cpu_share": round(watcher.cpu_s / seconds, 4),
        "ticks_per_s": round(watcher.ticks / seconds),
        "full_dumps_share": round(watcher.full_dumps / max(watcher.ticks, 1), 3),
    }


async def measure(rounds: int, seconds: float) -> dict[str, list[dict[str, float]]]:
    results: dict[str, list[dict[str, float]]] = {load: [] for load in LOADS}
    async with Experiment(TargetSettings(**workload(instrument=False))) as experiment:
        port = experiment.target.port
        for number in range(rounds):
            for load in LOADS:
                pair = {}
                for always_full in (False, True) if number % 2 == 0 else (True, False):
                    pair[always_full] = await _round(port, always_full, load, seconds)
                row = {"now": pair[False], "full_every_tick": pair[True]}
                results[load].append(row)
                print(
                    f"round {number + 1} {load:>10}: sampler {pair[False]['cpu_share']:.1%} of a core "
                    f"({pair[False]['full_dumps_share']:.0%} of {pair[False]['ticks_per_s']} ticks/s full)   "
                    f"full dump every tick {pair[True]['cpu_share']:.1%} ({pair[True]['ticks_per_s']} ticks/s)",
                    flush=True,
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    raise_open_file_limit()
    results = run_async(lambda: measure(args.rounds, args.seconds))
    summary = {
        load: {
            "cpu_share": spread([r["now"]["cpu_share"] for r in rows]),
            "cpu_share_full_every_tick": spread([r["full_every_tick"]["cpu_share"] for r in rows]),
            "full_dumps_share": spread([r["now"]["full_dumps_share"] for r in rows]),
        }
        for load, rows in results.items()
    }
    for load, figures in summary.items():
        now, before = figures["cpu_share"], figures["cpu_share_full_every_tick"]
        print(
            f"{load}: sampler {now['median']:.1%} of a core (range {now['min']:.1%}–{now['max']:.1%}), "
            f"full dump every tick {before['median']:.1%} ({before['min']:.1%}–{before['max']:.1%})"
        )
    write(
        "sampler",
        {
            "what": "the kernel sampler thread's CPU while wrk -t1 -c50 drives the target",
            "target": workload(instrument=False),
            "rounds": results,
            "summary": summary,
        },
    )


if __name__ == "__main__":
    main()
