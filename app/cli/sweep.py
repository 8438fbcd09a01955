"""`connscope sweep`: one burst against a grid of settings, with a progress bar, then a table
(or one JSON object) of every cell's figures."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from app.cli.parser import BURST_FLAGS, TARGET_FLAGS
from app.cli.run import check_apps_load, raise_open_file_limit, run_async
from app.errors import CapExceeded, StoreError
from app.fields import readable
from app.limits import Limits, limits_from
from app.result import RunResult
from app.sandbox.apps import UserApp, user_app
from app.sandbox.engines import setting_text
from app.store import RunStore
from app.sweep import Plan, Sweep, SweepValueError, describe, plan, text_table

BAR_WIDTH = 24


class _EmptyItem(ValueError):
    """`3,,` would sweep 3 and "not given" without a word: `none` says that on purpose."""

    def __init__(self, flag: str, raw: str) -> None:
        super().__init__(f"{flag} {raw}: an empty value in the list (write none for not given)")


def _lists(args: argparse.Namespace, flags: dict[str, str]) -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    for flag, name in flags.items():
        if raw := getattr(args, name):
            values = [v.strip() for v in raw.split(",")]
            if not all(values):
                raise _EmptyItem(flag, raw)
            lists[name] = values
    return lists


def _plan(args: argparse.Namespace, limits: Limits) -> Plan | None:
    """The grid from the flags, or None after saying (as `connscope run` does) which value
    of which flag is refused."""
    try:
        targets, bursts = _lists(args, TARGET_FLAGS), _lists(args, BURST_FLAGS)
    except _EmptyItem as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return None
    try:
        return plan(
            targets,
            bursts,
            args.repeat,
            base_target={"instrument": not args.no_instrument},
            limits=limits,
        )
    except CapExceeded as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return None
    except SweepValueError as exc:
        flags = TARGET_FLAGS if exc.kind == "target" else BURST_FLAGS
        flag = next((f for f, n in flags.items() if n == exc.name), exc.name)
        print(f"connscope: error: {flag} {exc.value}: {readable(exc.error)}", file=sys.stderr)
        return None


def _apps(grid: Plan, directory: str | None) -> dict[str, UserApp] | None:
    """The user's apps the cells serve, by name; None after saying which is refused."""
    apps: dict[str, UserApp] = {}
    for cell in grid.cells:
        name = cell.settings.app
        if name is not None and name not in apps:
            try:
                apps[name] = user_app(name, directory)
            except ValueError as exc:
                print(f"connscope: error: {exc}", file=sys.stderr)
                return None
    if directory is not None and not apps:
        print(f"connscope: error: --app-dir {directory}: no --app to import from it", file=sys.stderr)
        return None
    return apps


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


def _cell_words(sweep: Sweep) -> str:
    cell = sweep.current_cell
    if cell is None:
        return ""
    return " ".join(f"{k}={setting_text(v, k)}" for k, v in cell.swept.items()) or "the one cell"


def progress_line(sweep: Sweep) -> str:
    """Run i/N with a bar, elapsed and the time left at the pace so far."""
    total = sweep.plan.runs
    filled = round(BAR_WIDTH * sweep.done / total)
    bar = "█" * filled + "░" * (BAR_WIDTH - filled)
    burst = sweep.current
    within = f" ({burst.finished_connections}/{burst.spec.connections} conns)" if burst is not None else ""
    return (
        f"[{bar}] run {min(sweep.done + 1, total)}/{total} · {_cell_words(sweep)}{within} · "
        f"{_clock(sweep.elapsed_s)} elapsed · ETA {_clock(sweep.eta_s)}"
    )


async def _bar(sweep: Sweep) -> None:
    try:
        while True:
            sys.stderr.write(f"\r\033[K{progress_line(sweep)}")
            sys.stderr.flush()
            await asyncio.sleep(0.2)
    except asyncio.CancelledError:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()
        raise


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        print(f"connscope: error: --repeat {args.repeat}: Must be at least 1.", file=sys.stderr)
        return 2
    limits = limits_from(args)
    grid = _plan(args, limits)
    if grid is None:
        return 2
    try:
        limits.check_sweep(grid.runs)
        for cell in grid.cells:
            limits.check_target(cell.settings)
            limits.check_burst(cell.burst)
        # Checked before anything starts: a sweep is never run only to be lost at the end.
        store = None if args.no_record else RunStore(args.store)
    except (CapExceeded, StoreError) as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return 2
    # Where the plots and the report go is made (and found writable) before a sweep of
    # minutes runs, not after it.
    for flag, folder in (("--plot", args.plot), ("--report", args.report)):
        if folder is None:
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"connscope: error: {flag} {folder}: {exc.strerror}", file=sys.stderr)
            return 2
        if not os.access(folder, os.W_OK | os.X_OK):
            print(f"connscope: error: {flag} {folder}: not writable", file=sys.stderr)
            return 2
    apps = _apps(grid, args.app_dir)
    if apps is None:
        return 2
    first_settings = {name: next(c.settings for c in grid.cells if c.settings.app == name) for name in apps}
    if not check_apps_load(("", first_settings[name], app) for name, app in apps.items()):
        return 1
    if not grid.axes:
        print(
            "connscope: note: no setting has two or more values, so this sweep is one cell "
            f"({grid.repeat} run{'s' if grid.repeat != 1 else ''}); give a list like --limit-concurrency 2,4,none",
            file=sys.stderr,
        )
    raise_open_file_limit()
    sweep = Sweep(grid, keep_results=args.json, apps=apps)
    sweep_id = run_async(lambda: _run(sweep, store))
    record = sweep.record(with_runs=args.json)
    record["sweep"]["id"] = sweep_id
    if args.plot is not None:
        from app.report.sweep_plot import write_plots

        try:
            written = write_plots(sweep.record() | {"sweep": record["sweep"]}, args.plot)
        except OSError as exc:
            print(f"connscope: error: cannot write plots to {args.plot}: {exc.strerror}", file=sys.stderr)
            return 2
        print(f"wrote {', '.join(str(p) for p in written)}", file=sys.stderr)
    if args.report is not None:
        from app.report.files import ReportFiles
        from app.report.sweep import render

        summary = sweep.record() | {"sweep": record["sweep"]}
        try:
            args.report.mkdir(parents=True, exist_ok=True)
            print(f"wrote {render(summary, ReportFiles(args.report / 'report.md'))}", file=sys.stderr)
        except OSError as exc:
            print(f"connscope: error: cannot write the report to {args.report}: {exc.strerror}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(record))
    else:
        print(text_table(record))
    if sweep.state == "failed":
        print(f"connscope: error: the sweep stopped: {sweep.error}", file=sys.stderr)
        return 1
    return 0


async def _run(sweep: Sweep, store: RunStore | None) -> int | None:
    """Runs the sweep, recording each run and the sweep as it fills in; the sweep's id."""
    sweep_id: int | None = None
    if store is not None:
        sweep_id = await asyncio.to_thread(store.save_sweep, describe(sweep.record()), sweep.record())
        print(f"recording as sweep {sweep_id}", file=sys.stderr)

    async def record(result: RunResult) -> int | None:
        if store is None:
            return None
        try:
            return await asyncio.to_thread(store.save, result)
        except StoreError as exc:
            print(f"connscope: error: a run was not recorded: {exc}", file=sys.stderr)
            return None

    async def changed() -> None:
        if not tty:
            print(_done_line(sweep), file=sys.stderr, flush=True)
        if store is not None and sweep_id is not None:
            data = sweep.record()
            try:
                await asyncio.to_thread(store.save_sweep, describe(data), data, sweep_id)
            except StoreError as exc:
                print(f"connscope: error: the sweep was not updated: {exc}", file=sys.stderr)

    tty = sys.stderr.isatty()
    bar = asyncio.create_task(_bar(sweep)) if tty else None
    try:
        await sweep.run(record, changed)
    finally:
        if bar is not None:
            bar.cancel()
            await asyncio.gather(bar, return_exceptions=True)
    return sweep_id


def _done_line(sweep: Sweep) -> str:
    """One line per run for a log (stderr not a terminal)."""
    last = sweep.last
    if last is None or not last.figures:
        what = "nothing run"
    else:
        where = " ".join(f"{k}={setting_text(v, k)}" for k, v in last.cell.swept.items()) or "the one cell"
        what = f"{where}: {last.figures[-1]['ok']} ok, {last.figures[-1]['rejected']} 503"
    return (
        f"run {sweep.done}/{sweep.plan.runs} ({sweep.state}) {what} · "
        f"{_clock(sweep.elapsed_s)} elapsed · ETA {_clock(sweep.eta_s)}"
    )
