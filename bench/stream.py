"""The live stream under load: many viewers on `/ws` while a keep-alive burst runs.

Measures, with 0 and with N viewers attached (alternating rounds, same burst):
- the burst's own throughput (requests/s from its result): the ratio is what watching costs;
- rows per second the stream carried (a connection's changes within one frame coalesce into
  its row, so this counts connections updated per frame, summed per second);
- frames per second each viewer got (the stream promises at most 30);
- event-to-frame latency: from a connection's state change (its row's `t_ms`) to the frame
  that carried it reaching the viewer. Frames count from the experiment's start; a viewer
  maps that clock onto its own CLOCK_MONOTONIC by the smallest (arrival − `t_ms`) it saw, so
  the figure is a lower bound by at most the fastest frame's delivery time.
The viewers run in a process of their own that only reads and parses frames; on two cores
what they take comes out of the target's and the generator's share, so its CPU is reported
beside the ratio, with the dashboard's own CPU with and without them.

A third kind of round runs the burst unwatched beside a process that burns as much CPU as
the viewers' process did: its ratio is the part of the drop that is the viewers' own CPU
on this machine, not the dashboard's work for them.

`python3 -m bench.stream [--viewers 50] [--rounds 3] [--connections 50] [--requests 400] [--profile]`;
`--profile` records the dashboard with `py-spy --gil` during the last watched burst (that
round is slowed by the sampling: quote figures from a run without it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import statistics
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import websockets

from bench.common import dashboard, fire, py_spy, spread, workload, write
from tests.support import start_target


@dataclass
class Viewer:
    arrivals: list[tuple[int, float, list[float]]] = field(default_factory=list)
    """(arrival ns, frame t_ms, t_ms of every row it carried) per frame."""

    def latencies_ms(self) -> list[float]:
        if not self.arrivals:
            return []
        offset = min(arrived / 1e6 - t_ms for arrived, t_ms, _ in self.arrivals)
        return [arrived / 1e6 - offset - row for arrived, _, rows in self.arrivals for row in rows]

    def fps(self, start_ns: int, end_ns: int) -> tuple[float, int]:
        """Mean frames per second in the window, and the most in any one second of it."""
        stamps = [a for a, _, _ in self.arrivals if start_ns <= a <= end_ns]
        seconds = max((end_ns - start_ns) / 1e9, 1e-9)
        busiest = max((sum(1 for s in stamps if t <= s < t + 1_000_000_000) for t in stamps), default=0)
        return len(stamps) / seconds, busiest


async def _watch(url: str, viewer: Viewer, stop: asyncio.Event) -> None:
    async with websockets.connect(url.replace("http://", "ws://") + "/ws", max_size=None) as ws:
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=0.2)
            except TimeoutError:
                continue
            arrived = time.monotonic_ns()
            frame = json.loads(raw)
            rows = frame.get("changes") if frame["type"] == "delta" else []
            viewer.arrivals.append((arrived, frame["t_ms"], [row[4] for row in rows or []]))


class Audience:
    """N viewers in a process of their own that does nothing but read frames: its CPU is
    measured apart from the dashboard's (50 browsers would sit on other machines; here they
    share the two cores, and what they take is reported beside the ratio)."""

    def __init__(self, url: str, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_audience, args=(url, count, child), daemon=True)
        self.viewers: list[Viewer] = []
        self.cpu_s = 0.0

    def __enter__(self) -> Audience:
        self._process.start()
        if not self._conn.poll(60) or self._conn.recv() != "ready":
            raise RuntimeError("viewers did not connect")
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.send("stop")
        arrivals, self.cpu_s = self._conn.recv()
        self.viewers = [Viewer(a) for a in arrivals]
        self._process.join(30)


def _audience(url: str, count: int, conn: Connection) -> None:
    viewers = [Viewer() for _ in range(count)]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        tasks = [asyncio.create_task(_watch(url, v, stop)) for v in viewers]
        # Every viewer has its snapshot before the burst starts.
        while any(not v.arrivals for v in viewers):
            await asyncio.sleep(0.05)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        conn.send("ready")
        await loop.run_in_executor(None, conn.recv)
        stop.set()
        await asyncio.gather(*tasks)
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
        conn.send(([v.arrivals for v in viewers], cpu))

    asyncio.run(main())


def _cpu_s(pid: int) -> float:
    """CPU time of one process (utime + stime), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _spin(share: float, stop: Any) -> None:
    """Burns `share` of a core in 10 ms periods until told to stop."""
    while not stop.is_set():
        began = time.perf_counter()
        while time.perf_counter() - began < share * 0.01:
            pass
        time.sleep((1 - share) * 0.01)


def _unwatched(
    url: str, dashboard_pid: int, target_id: int, burst: dict[str, Any], alike: float = 0.0
) -> dict[str, Any]:
    """The burst with nobody watching; with `alike`, beside a process burning as much CPU
    as the viewers did, which tells their CPU apart from the dashboard's work for them."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    spinner = context.Process(target=_spin, args=(alike, stop), daemon=True) if alike else None
    if spinner is not None:
        spinner.start()
        time.sleep(0.5)
    cpu = _cpu_s(dashboard_pid)
    result = fire(url, target_id, **burst)
    seconds = result["duration_ms"] / 1e3
    dashboard_cpu = _cpu_s(dashboard_pid) - cpu
    if spinner is not None:
        stop.set()
        spinner.join(10)
    return {
        "viewers": 0,
        "cpu_alike": round(alike, 3),
        "req_per_s": result["totals"]["requests"] / seconds,
        "dashboard_cpu_share": dashboard_cpu / seconds,
        "dashboard_cpu_us_per_request": dashboard_cpu / result["totals"]["requests"] * 1e6,
    }


def _round(
    url: str, dashboard_pid: int, target_id: int, viewers: int, burst: dict[str, Any], profile: bool = False
) -> dict[str, Any]:
    with Audience(url, viewers) as audience:
        start = time.monotonic_ns()
        cpu = _cpu_s(dashboard_pid)
        with py_spy(dashboard_pid, "stream", gil=True) if profile else contextlib.nullcontext():
            result = fire(url, target_id, **burst)
        dashboard_cpu = _cpu_s(dashboard_pid) - cpu
        end = time.monotonic_ns()
        time.sleep(0.3)  # the burst's last frames
    seconds = result["duration_ms"] / 1e3
    latencies = [x for v in audience.viewers for x in v.latencies_ms()]
    rates = [v.fps(start, end) for v in audience.viewers]
    changes = sum(len(rows) for _, _, rows in audience.viewers[0].arrivals)
    return {
        "viewers": viewers,
        "req_per_s": result["totals"]["requests"] / seconds,
        "dashboard_cpu_share": dashboard_cpu / seconds,
        "dashboard_cpu_us_per_request": dashboard_cpu / result["totals"]["requests"] * 1e6,
        "viewers_cpu_share": audience.cpu_s / ((end - start) / 1e9 + 0.3),
        "rows_per_s": changes / ((end - start) / 1e9),
        "fps_mean": statistics.median(r[0] for r in rates),
        "fps_busiest_second": max(r[1] for r in rates),
        "latency_p50_ms": statistics.quantiles(latencies, n=100)[49] if len(latencies) > 1 else None,
        "latency_p99_ms": statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--profile", action="store_true", help="py-spy --gil the dashboard in the last watched burst")
    args = parser.parse_args()
    burst = {"connections": args.connections, "pattern": "burst", "requests_per_connection": args.requests}
    rounds: list[dict[str, Any]] = []
    with dashboard("--max-requests-per-burst", str(args.connections * args.requests)) as (url, proc):
        target = start_target(url, workload())
        fire(url, target["id"], **burst)  # warm-up, not counted
        for n in range(args.rounds):
            for kind in ("alone", "watched", "alike") if n % 2 == 0 else ("watched", "alike", "alone"):
                if kind == "watched":
                    last = args.profile and n == args.rounds - 1
                    rounds.append(_round(url, proc.pid, target["id"], args.viewers, burst, last))
                else:
                    share = rounds[-1]["viewers_cpu_share"] if kind == "alike" else 0.0
                    rounds.append(_unwatched(url, proc.pid, target["id"], burst, share))
                print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in rounds[-1].items()}))
    alone = [r["req_per_s"] for r in rounds if r["viewers"] == 0 and not r["cpu_alike"]]
    alike = [r["req_per_s"] for r in rounds if r["viewers"] == 0 and r["cpu_alike"]]
    watched = [r for r in rounds if r["viewers"]]
    ratios = [w["req_per_s"] / a for w, a in zip(watched, alone, strict=True)]
    summary = {
        "throughput_ratio_watched_vs_alone": spread(ratios),
        "throughput_ratio_viewers_cpu_alike_vs_alone": spread([x / a for x, a in zip(alike, alone, strict=True)]),
        # The dashboard's own work for its viewers: watched against a burst that shares the
        # cores with as much CPU as the viewers' process took, the one thing 50 browsers on
        # machines of their own would not take from the burst.
        "throughput_ratio_watched_vs_viewers_cpu_alike": spread(
            [w["req_per_s"] / x for w, x in zip(watched, alike, strict=True)]
        ),
        "rows_per_s": spread([w["rows_per_s"] for w in watched]),
        "fps_mean": spread([w["fps_mean"] for w in watched]),
        "fps_busiest_second": max(w["fps_busiest_second"] for w in watched),
        "latency_p99_ms": spread([w["latency_p99_ms"] for w in watched if w["latency_p99_ms"] is not None]),
        "latency_p50_ms": spread([w["latency_p50_ms"] for w in watched if w["latency_p50_ms"] is not None]),
        "viewers_cpu_share": spread([w["viewers_cpu_share"] for w in watched]),
        "dashboard_cpu_share_watched": spread([w["dashboard_cpu_share"] for w in watched]),
        "dashboard_cpu_share_alone": spread(
            [r["dashboard_cpu_share"] for r in rounds if r["viewers"] == 0 and not r["cpu_alike"]]
        ),
        # CPU per request is steadier than a rate on a shared machine: what the dashboard
        # spends on the viewers, whatever else the cores were doing.
        "dashboard_cpu_us_per_request_watched": spread([w["dashboard_cpu_us_per_request"] for w in watched]),
        "dashboard_cpu_us_per_request_alone": spread(
            [r["dashboard_cpu_us_per_request"] for r in rounds if r["viewers"] == 0 and not r["cpu_alike"]]
        ),
    }
    print(json.dumps(summary, indent=2))
    write("stream", {"args": vars(args), "rounds": rounds, "summary": summary})


if __name__ == "__main__":
    main()
