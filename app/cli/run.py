"""`connscope run`: one target, one burst, a table or the JSON result; `connscope scenarios`."""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from app.cli.parser import BURST_FLAGS, TARGET_FLAGS, _model
from app.errors import CapExceeded, StoreError, TargetError
from app.experiment import run_once
from app.limits import limits_from
from app.result import RunResult
from app.sandbox.settings import TargetSettings
from app.scenarios import BY_ID, SCENARIOS
from app.store import RunStore
from app.timeline import summary
from app.timeline.model import Outcome, State
from app.traffic.burst import Burst
from app.traffic.spec import BurstSpec

T = TypeVar("T")


def raise_open_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """The client runs on uvloop where installed, as DESIGN.md says."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


def progress_line(burst: Burst) -> str:
    counts = summary.current_counts(burst.records)
    live = " · ".join(f"{s.value} {counts[s.value]}" for s in State if s is not State.CLOSED)
    return f"{burst.finished_connections}/{burst.spec.connections} done · {live}"


async def _progress(burst: Burst) -> None:
    tty = sys.stderr.isatty()
    try:
        while True:
            await asyncio.sleep(0.2 if tty else 1.0)
            line = progress_line(burst)
            sys.stderr.write(f"\r\033[K{line}" if tty else f"{line}\n")
            sys.stderr.flush()
    except asyncio.CancelledError:
        # A terminal's line is wiped; a log gets the final state instead of a stale one.
        sys.stderr.write("\r\033[K" if tty else f"{progress_line(burst)}\n")
        raise


def render_table(result: RunResult) -> str:
    s, b, t, target = result.settings, result.burst, result.totals, result.target
    limit = "none" if s.limit_concurrency is None else s.limit_concurrency
    lines = [
        f"target   limit_concurrency={limit} backlog={s.backlog} workers={s.workers} "
        f"http={s.http} loop={s.loop} handler={s.handler} {s.handler_ms:g} ms",
        f"         127.0.0.1:{target.port}, {target.isolation}, "
        + (
            f"{target.state} ({target.exit}) by the end of the burst"
            if target.state != "ready"
            else "ready until the end of the burst (then stopped)"
        ),
        f"burst    {b.connections} connections, {b.pattern}, {b.requests_per_connection} request(s) each, "
        f"client timeout {b.client_timeout_s:g} s",
        "",
        f"{'outcome':<12}{'requests':>10}",
    ]
    counts = t.model_dump()
    lines += [f"{o.value:<12}{counts[o.value]:>10}" for o in Outcome]
    lines += [f"{'total':<12}{t.requests:>10}", "", f"{'peak at once':<16}{'connections':>12}"]
    lines += [f"{name:<16}{value!s:>12}" for name, value in result.peaks.model_dump().items()]
    lines.append(f"accept queue capacity (kernel): {result.accept_queue_capacity}")
    if result.timeouts_by_state:
        where = ", ".join(f"{n} {state.value}" for state, n in result.timeouts_by_state.items())
        lines.append(f"timed out while: {where}")
    if len(result.workers) > 1:
        lines.append("")
        lines += [
            f"worker pid {w.pid:<6} {w.totals.connections} connections, {w.totals.ok} ok, "
            f"{w.totals.rejected} rejected, peak active {w.peaks.active}"
            for w in result.workers
        ]
    if result.kernel_counters is not None:
        dropped = [c.syn_retransmits for c in result.connections if c.syn_retransmits]
        lines += [
            "",
            "kernel   " + " ".join(f"{k}={v}" for k, v in result.kernel_counters.items()),
            f"         ({result.kernel_counters_scope}); clients that had a SYN dropped: {len(dropped)}, "
            f"SYNs they sent again: {sum(dropped)}",
        ]
    lat, con = result.latency_ms.model_dump(), result.connect_ms.model_dump()
    lines += [
        "",
        "latency ms   " + "  ".join(f"{k} {v}" for k, v in lat.items()),
        "connect ms   " + "  ".join(f"{k} {v}" for k, v in con.items()),
    ]
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    scenario = BY_ID[args.scenario] if args.scenario else None
    settings = _model(
        TargetSettings,
        TARGET_FLAGS,
        args,
        scenario.settings.model_dump() if scenario else {},
        instrument=not args.no_instrument,
    )
    spec = _model(BurstSpec, BURST_FLAGS, args, scenario.burst.model_dump() if scenario else {})
    limits = limits_from(args)
    try:
        limits.check_target(settings)
        limits.check_burst(spec)
        # Checked before anything starts: a run is never fired only to be lost at the end.
        store = RunStore(args.store) if args.record else None
    except (CapExceeded, StoreError) as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return 2
    raise_open_file_limit()
    try:
        result = run_async(lambda: run_once(settings, spec, watch=_progress))
    except TargetError as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return 1
    if scenario is not None:
        result = result.model_copy(update={"scenario": scenario.id, "finding": scenario.finding(result)})
    status = 0
    if store is not None:
        try:
            run_id = store.save(result)
        except StoreError as exc:
            print(f"connscope: error: the run was not recorded: {exc}", file=sys.stderr)
            status = 1
        else:
            result = result.model_copy(update={"run_id": run_id})
            print(f"recorded as run {run_id}", file=sys.stderr)
    if args.json:
        print(result.model_dump_json())
    else:
        print(render_table(result))
        if scenario is not None:
            print(f"\n{scenario.title}\n{result.finding}")
    return status


def cmd_scenarios() -> int:
    for scenario in SCENARIOS:
        print(f"{scenario.id}\t{scenario.title}")
    return 0
