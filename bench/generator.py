"""connscope's load generator against wrk, on the same target in the same run.

`python3 -m bench.generator [--rounds N] [--profile]`. A real dashboard process (what a
user runs) starts one target (async handler, 0 ms, uvloop, backlog 4096) through its API;
then, alternating, connscope fires 50 keep-alive connections × 2,000 requests through the
API and `wrk -t1 -c50` drives the same target for 3 s. The ratio is taken per round, so
machine noise hits both sides alike. `--profile` records the dashboard process with
py-spy during connscope's first burst (a speedscope file beside the results).
"""

from __future__ import annotations

import argparse
import contextlib

from bench.common import dashboard, fire, py_spy, spread, workload, write, wrk
from tests.support import start_target

CONNECTIONS = 50
REQUESTS = 2000
GOAL = 0.9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--profile", action="store_true", help="py-spy the dashboard during connscope's bursts")
    args = parser.parse_args()

    rounds: list[dict[str, float]] = []
    # The burst is over the dashboard's default cap (5,000 requests): raised for it, as a user would.
    with dashboard("--max-requests-per-burst", str(args.connections * args.requests)) as (url, proc):
        target = start_target(url, workload())
        spec = {"connections": args.connections, "requests_per_connection": args.requests, "client_timeout_s": 30}
        # Warm both paths up (imports, page cache, the target's first allocations).
        fire(url, target["id"], connections=args.connections, requests_per_connection=100)
        wrk(target["port"], args.connections, 1)
        for number in range(args.rounds):
            # The first burst only: the profile then shows the burst, not the pauses around it.
            with py_spy(proc.pid, "generator") if args.profile and number == 0 else contextlib.nullcontext():
                result = fire(url, target["id"], **spec)
            totals = result["totals"]
            ours = totals["requests"] / (result["duration_ms"] / 1000)
            ref = wrk(target["port"], args.connections, 3)
            row = {
                "connscope_req_s": round(ours),
                "wrk_req_s": round(ref["req_s"]),
                "ratio": round(ours / ref["req_s"], 3),
                "connscope_ok": totals["ok"],
                "connscope_requests": totals["requests"],
                "connscope_p99_ms": result["latency_ms"]["p99"],
                "wrk_p99_ms": ref.get("p99_ms", 0.0),
            }
            rounds.append(row)
            print(
                f"round {number + 1}: connscope {row['connscope_req_s']:>7,} req/s ({totals['ok']:,}/"
                f"{totals['requests']:,} ok, p99 {row['connscope_p99_ms']} ms)   wrk {row['wrk_req_s']:>7,} req/s "
                f"(p99 {row['wrk_p99_ms']:.2f} ms)   ratio {row['ratio']:.2f}",
                flush=True,
            )
    ratio = spread([r["ratio"] for r in rounds])
    print(
        f"connscope / wrk: median {ratio['median']:.2f}× (range {ratio['min']:.2f}–{ratio['max']:.2f}, "
        f"{ratio['n']} rounds); goal ≥ {GOAL}×"
    )
    write(
        "generator",
        {
            "what": f"{args.connections} keep-alive connections × {args.requests} requests through the dashboard's API "
            f"vs wrk -t1 -c{args.connections} -d3s, same target, alternating",
            "target": workload(),
            "goal_ratio": GOAL,
            "rounds": rounds,
            "ratio": ratio,
            "connscope_req_s": spread([r["connscope_req_s"] for r in rounds]),
            "wrk_req_s": spread([r["wrk_req_s"] for r in rounds]),
        },
    )


if __name__ == "__main__":
    main()
