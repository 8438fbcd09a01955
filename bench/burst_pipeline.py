"""How the whole pipeline keeps up with large bursts: client, server witness, kernel sampler.

Run on demand: `python bench/burst_pipeline.py [connections ...]`. For each burst size it
fires one burst (all at once, async handler 200 ms, backlog 4096) at a fresh target and
prints how long it took, how often the kernel was sampled, and whether every connection
was joined with the server's report.
"""

from __future__ import annotations

import sys
import time

from app.cli import raise_open_file_limit, run_async
from app.experiment import run_once
from app.sandbox.settings import TargetSettings
from app.traffic.spec import BurstSpec


def main(sizes: list[int]) -> None:
    raise_open_file_limit()
    print(
        f"{'connections':>11} {'wall s':>7} {'conn/s':>8} {'samples':>8} {'ms/sample':>9} "
        f"{'joined':>7} {'ok':>6} {'p99 ms':>8}"
    )
    for n in sizes:
        settings = TargetSettings(backlog=4096, handler="async", handler_ms=200, loop="uvloop")
        spec = BurstSpec(connections=n, pattern="burst", client_timeout_s=60)
        began = time.perf_counter()
        result = run_async(lambda s=settings, b=spec: run_once(s, b)).model_dump(mode="json")
        wall = time.perf_counter() - began
        duration_s = result["duration_ms"] / 1000
        samples = result["kernel_samples"]
        joined = sum(1 for c in result["connections"] if any(s == "accepted" for s, _ in c["states"]))
        print(
            f"{n:>11} {wall:>7.2f} {n / duration_s:>8.0f} {samples:>8} "
            f"{result['duration_ms'] / max(samples, 1):>9.2f} {joined / n:>7.1%} "
            f"{result['totals']['ok']:>6} {result['latency_ms']['p99']:>8}"
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [500, 2000, 5000])
