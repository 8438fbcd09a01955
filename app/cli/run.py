"""`connscope run`: one target, one burst, a table or the JSON result; `connscope scenarios`."""

from __future__ import annotations

import argparse
import asyncio
import functools
import resource
import sys
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from app.cli.parser import BURST_FLAGS, TARGET_FLAGS, model_from_flags
from app.errors import CapExceeded, StoreError, TargetError
from app.experiment import check_start, run_once
from app.limits import limits_from
from app.numbers import ms_text
from app.result import PERCENTILE_LABELS, LatencyPercentiles, Request, RunResult
from app.sandbox.apps import UserApp, user_app
from app.sandbox.engines import ENGINES, setting_text
from app.sandbox.settings import TargetSettings
from app.scenarios import BY_ID, SCENARIOS
from app.store import RunStore
from app.timeline import summary
from app.timeline.histogram import percentiles_ms
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


def check_apps_load(checks: Iterable[tuple[str, TargetSettings, UserApp]]) -> bool:
    """Each (label, settings, app) started once before any burst: an app that cannot be
    imported is refused in a line, not found after another burst has run or by runs that then
    fail one by one. The label ("B", or "" for none) leads each line."""
    for label, settings, app in checks:
        lead = f"{label}: " if label else ""
        print(f"{lead}checking that {app.name} loads", file=sys.stderr)
        try:
            run_async(functools.partial(check_start, settings, app))
        except TargetError as exc:
            print(f"connscope: error: {lead}{exc}", file=sys.stderr)
            return False
    return True


def progress_line(burst: Burst) -> str:
    counts = summary.current_counts(burst.records)
    live = " · ".join(f"{s.value} {counts[s.value]}" for s in State if s is not State.CLOSED)
    return f"{burst.finished_connections}/{burst.spec.connections} done · {live}"


async def show_progress(burst: Burst) -> None:
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
    values = s.model_dump()
    # The chosen engine's own settings only: another engine's would be its defaults, not in force.
    engine = " ".join(f"{name}={setting_text(values[name], name)}" for name in ENGINES[s.server].settings_fields)
    lines = [
        f"target   {target.server_version or s.server}: {engine} "
        + (f"app={s.app}" if s.app else f"handler={s.handler_mix or s.handler} {s.handler_ms:g} ms {s.latency}"),
        f"         witnesses: {target.witnesses}",
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
    lines += [
        "",
        "latency ms   " + percentile_line(result.latency_ms),
        "connect ms   " + percentile_line(result.connect_ms),
    ]
    if b.paths:
        lines += ["", *path_lines(result)]
    return "\n".join(lines)


def path_lines(result: RunResult) -> list[str]:
    """Requests and their latency per path, for a burst over several: which path was slow
    shows here, not only in --json."""
    by_path: dict[str, list[Request]] = {}
    for conn in result.connections:
        for request in conn.requests:
            by_path.setdefault(request.path or "?", []).append(request)
    width = max(len("path"), *(len(path) for path in by_path))
    lines = [f"{'path':<{width}}  {'requests':>8}  {'ok':>5}  {'rejected':>8}  {'other':>5}   latency ms"]
    for path, requests in sorted(by_path.items()):
        outcomes = [r.outcome for r in requests]
        ok, rejected = outcomes.count(Outcome.OK), outcomes.count(Outcome.REJECTED)
        answered = (round(r.latency_ms * 1e6) for r in requests if r.status is not None and r.latency_ms is not None)
        figures = LatencyPercentiles.model_validate(percentiles_ms(answered))
        lines.append(
            f"{path:<{width}}  {len(requests):>8}  {ok:>5}  {rejected:>8}  {len(requests) - ok - rejected:>5}   "
            + percentile_line(figures)
        )
    return lines


def scenario_target_flags(base: TargetSettings) -> dict[str, str]:
    """In a two-target scenario each target takes the flags its engine takes (and the
    workload's); its server stays the scenario's."""
    engine_fields = {name for engine in ENGINES.values() for name in engine.settings_fields} | {"server"}
    own = ENGINES[base.server].settings_fields
    return {flag: name for flag, name in TARGET_FLAGS.items() if name not in engine_fields or name in own}


def percentile_line(figures: LatencyPercentiles) -> str:
    return "  ".join(f"{PERCENTILE_LABELS[k]} {ms_text(v)}" for k, v in figures.model_dump().items())


def cmd_run(args: argparse.Namespace) -> int:
    scenario = BY_ID[args.scenario] if args.scenario else None
    bases: list[TargetSettings | None] = (
        [scenario.settings, scenario.versus]
        if scenario and scenario.versus
        else [scenario.settings if scenario else None]
    )
    targets = [
        model_from_flags(
            TargetSettings,
            scenario_target_flags(base) if len(bases) > 1 and base is not None else TARGET_FLAGS,
            args,
            base.model_dump() if base else {},
            instrument=not args.no_instrument,
        )
        for base in bases
    ]
    # Seeded once: a two-target scenario fires the identical schedule at both.
    spec = model_from_flags(BurstSpec, BURST_FLAGS, args, scenario.burst.model_dump() if scenario else {}).seeded()
    try:
        chosen = targets[0].app
        app = user_app(chosen, args.app_dir) if chosen is not None else None
    except ValueError as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return 2
    if app is None and args.app_dir is not None:
        print("connscope: error: --app-dir needs --app", file=sys.stderr)
        return 2
    limits = limits_from(args)
    try:
        for settings in targets:
            limits.check_target(settings)
        limits.check_burst(spec)
        # Checked before anything starts: a run is never fired only to be lost at the end.
        store = RunStore(args.store) if args.record else None
    except (CapExceeded, StoreError) as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return 2
    raise_open_file_limit()
    results: list[RunResult] = []
    # One target after the other: the second's burst never shares the machine with the first.
    for settings in targets:
        try:
            results.append(run_async(functools.partial(run_once, settings, spec, watch=show_progress, app=app)))
        except TargetError as exc:
            print(f"connscope: error: {exc}", file=sys.stderr)
            return 1
    if scenario is not None:
        finding = scenario.compare(*results) if scenario.compare and len(results) == 2 else scenario.finding(results[0])
        results = [r.model_copy(update={"scenario": scenario.id, "finding": finding}) for r in results]
    status = 0
    if store is not None:
        for index, result in enumerate(results):
            try:
                run_id = store.save(result)
            except StoreError as exc:
                print(f"connscope: error: the run was not recorded: {exc}", file=sys.stderr)
                status = 1
            else:
                results[index] = result.model_copy(update={"run_id": run_id})
                print(f"recorded as run {run_id}", file=sys.stderr)
    if args.json:
        print("\n".join(result.model_dump_json() for result in results))
    else:
        print("\n\n".join(render_table(result) for result in results))
        if scenario is not None:
            print(f"\n{scenario.title}\n{results[0].finding}")
    return status


def cmd_scenarios() -> int:
    for scenario in SCENARIOS:
        print(f"{scenario.id}\t{scenario.title}")
    return 0
