"""How the control app grows with the number of connections in one burst.

`python3 -m bench.scale [N ...]` (default 1000 10000 50000, three times each). Each runs in a
fresh process (so its peak RSS is its own): a target with the issue's workload and
`open_files` raised to fit, N connections ramped over 5 s, one request each, or at the 10,000
case's 2,000 new connections/s when 5 s would ask for more: at 10,000/s this machine's
target answers ~2,600/s, and the connections waiting for it pass the file limit (20,000).
It prints the wall time of the burst, the control app's peak RSS, and how long after the
last client event the summary was ready (the wait for the server's last reports plus
building the result from the records). Past ~28,000 connections the client's ports come
back from TIME_WAIT (connect() recycles them on loopback).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

from app.cli import raise_open_file_limit, run_async
from app.experiment import Experiment
from app.sandbox.settings import TargetSettings
from app.traffic.spec import BurstSpec
from bench.common import ROOT, spread, workload, write

GOAL_RSS_MB = 300
GOAL_SUMMARY_S = 1.0
RAMP_S = 5.0
MAX_RATE = 2000.0
REPEATS = 3


def ramp_s(n: int) -> float:
    return max(RAMP_S, n / MAX_RATE)


async def one(n: int) -> dict[str, float]:
    settings = TargetSettings(**workload(open_files=20_000))
    # The API caps a burst at 20,000 connections; the benchmark may go past it.
    shape = {"connections": n, "pattern": "ramp", "ramp_s": ramp_s(n), "client_timeout_s": 30}
    spec = BurstSpec.model_construct(**(BurstSpec().model_dump() | shape))
    async with Experiment(settings) as experiment:
        burst = experiment.add_burst(spec)
        began = time.perf_counter()
        await experiment.fire(burst)
        settled = time.monotonic_ns()
        result = experiment.result(burst)
        built = time.monotonic_ns()
        assert burst.ended_ns is not None
        return {
            "connections": n,
            "ramp_s": ramp_s(n),
            "wall_s": round(time.perf_counter() - began, 3),
            "ok": result.totals.ok,
            "joined": sum(1 for c in result.connections if any(s == "accepted" for s, _ in c.states)),
            "summary_after_last_event_s": round((built - burst.ended_ns) / 1e9, 3),
            "result_build_s": round((built - settled) / 1e9, 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }


def main() -> None:
    if sys.argv[1:2] == ["--one"]:
        raise_open_file_limit()
        print(json.dumps(run_async(lambda: one(int(sys.argv[2])))))
        return
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 10_000, 50_000]
    rows = []
    for n in [n for n in sizes for _ in range(REPEATS)]:
        out = subprocess.run(
            [sys.executable, "-m", "bench.scale", "--one", str(n)], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        row = json.loads(out.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{n:>6} connections over {ramp_s(n):g} s: wall {row['wall_s']:.2f} s, {row['ok']:,} ok, "
            f"{row['joined']:,} joined with the server's report, peak RSS {row['peak_rss_mb']:.0f} MB "
            f"(goal ≤ {GOAL_RSS_MB}), summary {row['summary_after_last_event_s']:.2f} s after the last event "
            f"(goal ≤ {GOAL_SUMMARY_S:g}; building it {row['result_build_s']:.2f} s)",
            flush=True,
        )
    write(
        "scale",
        {
            "what": f"N connections ramped over {RAMP_S:g} s (at most {MAX_RATE:g}/s), one request each, async 0 ms",
            "goal_rss_mb": GOAL_RSS_MB,
            "goal_summary_s": GOAL_SUMMARY_S,
            "sizes": rows,
            "summary_s": {
                n: spread([r["summary_after_last_event_s"] for r in rows if r["connections"] == n]) for n in sizes
            },
            "peak_rss_mb": {n: spread([r["peak_rss_mb"] for r in rows if r["connections"] == n]) for n in sizes},
        },
    )


if __name__ == "__main__":
    main()
