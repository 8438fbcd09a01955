"""`connscope compare`: one burst against two targets, one after the other, and what differs.

The target flags set both sides; `-a NAME=VALUE` and `-b NAME=VALUE` set one side's (NAME
is a target flag's name without its dashes). Both bursts follow one seeded schedule, as the
dashboard's Compare does, and the two run one after the other, never sharing the CPU.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import sys
from pathlib import Path

from app.cli.parser import BURST_FLAGS, TARGET_FLAGS, model_from_flags
from app.cli.run import check_apps_load, raise_open_file_limit, render_table, run_async, show_progress
from app.comparison import ComparisonRecord, better_text, diff_table, figure_text, finding, settings_table
from app.errors import CapExceeded, StoreError, TargetError
from app.experiment import run_once
from app.limits import limits_from
from app.report import ReportError, check_output, render
from app.result import RunResult
from app.sandbox.apps import UserApp, user_app
from app.sandbox.settings import TargetSettings
from app.store import ComparisonStore, RunStore
from app.traffic.spec import BurstSpec

SIDES = ("a", "b")


class SideError(ValueError):
    """A `-a`/`-b` value that names no target setting or gives it no value."""


def side_values(pairs: list[str], side: str) -> dict[str, str | None]:
    """`-a limit-concurrency=8` as {"limit_concurrency": "8"}; an empty value is None (the
    setting not given: its default, as an empty form field)."""
    values: dict[str, str | None] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        flag = "--" + name.strip().lstrip("-").replace("_", "-")
        if flag in BURST_FLAGS:
            raise SideError(f"-{side} {pair}: the burst is the same for both sides: give {flag} instead")
        if flag == "--app-dir":
            raise SideError(
                f"-{side} {pair}: one --app-dir serves both sides: give it once, a directory both apps import from"
            )
        if not equals or flag not in TARGET_FLAGS:
            close = difflib.get_close_matches(flag, TARGET_FLAGS, n=1)
            hint = f"did you mean -{side} {close[0][2:]}=…?" if close else f"e.g. -{side} limit-concurrency=8"
            raise SideError(f"-{side} {pair}: expected SETTING=VALUE with a target flag's name ({hint})")
        if TARGET_FLAGS[flag] in values:
            raise SideError(f"-{side} {pair}: {flag[2:]} is given twice for {side.upper()}")
        values[TARGET_FLAGS[flag]] = value.strip() or None
    return values


def _settings(args: argparse.Namespace, side: str, values: dict[str, str | None]) -> TargetSettings:
    merged = argparse.Namespace(**(vars(args) | values))
    # A refusal names where the value came from: `-b limit-concurrency` for one side's.
    flags = {(f"-{side} {flag[2:]}" if name in values else flag): name for flag, name in TARGET_FLAGS.items()}
    return model_from_flags(TargetSettings, flags, merged, {}, instrument=not args.no_instrument)


def render_comparison(a: RunResult, b: RunResult) -> str:
    """What differs and which side did better, as the dashboard's Compare shows it."""
    # Each side's own settings, as the report words them ("not Granian's"), never a repr.
    differs = ", ".join(f"{r.name} {r.a} → {r.b}" for r in settings_table(a.settings, b.settings) if r.differs)
    rows = diff_table(a, b)
    width = max(len(row.label) for row in rows)
    lines = [f"A vs B   {differs or 'the same settings'}", "", f"{'':<{width}}  {'A':>12}  {'B':>12}  better"]
    for row in rows:
        a_text, b_text = figure_text(row.a, row.unit), figure_text(row.b, row.unit)
        lines.append(f"{row.label:<{width}}  {a_text:>12}  {b_text:>12}  {better_text(row.better, row.unjudged)}")
    lines += ["", finding(a, b)]
    return "\n".join(lines)


def cmd_compare(args: argparse.Namespace) -> int:
    try:
        values = {side: side_values(getattr(args, side) or [], side) for side in SIDES}
    except SideError as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return 2
    spec = model_from_flags(BurstSpec, BURST_FLAGS, args, {}).seeded()
    a, b = (_settings(args, side, values[side]) for side in SIDES)
    if a == b:
        print(
            "connscope: error: A and B have the same settings: give -a or -b a setting that differs "
            "(e.g. -b limit-concurrency=8)",
            file=sys.stderr,
        )
        return 2
    apps: list[UserApp | None] = []
    for side, settings in zip(SIDES, (a, b), strict=True):
        try:
            apps.append(user_app(settings.app, args.app_dir) if settings.app is not None else None)
        except ValueError as exc:
            print(f"connscope: error: {side.upper()}: {exc}", file=sys.stderr)
            return 2
    limits = limits_from(args)
    report = Path(args.report) if args.report else None
    try:
        for settings in (a, b):
            limits.check_target(settings)
        limits.check_burst(spec)
        if report is not None:
            check_output(report)
        # Checked before anything starts: two bursts are never fired only to be lost at the end.
        store = RunStore(args.store) if args.record else None
    except (CapExceeded, StoreError, ReportError) as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return 2
    raise_open_file_limit()
    if apps[1] is not None and apps[1] != apps[0]:
        # A's start tries A's app, nothing tries B's before A's burst has run: tried first,
        # an app that cannot be imported does not cost the other side's burst.
        if not check_apps_load([("B", b, apps[1])]):
            return 1
    results: list[RunResult] = []
    for side, settings, app in zip(SIDES, (a, b), apps, strict=True):
        print(f"{side.upper()}: starting {settings.server}", file=sys.stderr)
        try:
            results.append(run_async(functools.partial(run_once, settings, spec, watch=show_progress, app=app)))
        except TargetError as exc:
            # A's burst is not lost with B's start: what it did is printed all the same.
            done = (f"{s.upper()}\n{render_table(r)}" for s, r in zip(SIDES, results, strict=False))
            print("\n\n".join(done), end="\n" if results else "")
            print(f"connscope: error: {side.upper()}: {exc}", file=sys.stderr)
            return 1
    first, second = results
    status, comparison_id = 0, None
    if store is not None:
        # Recorded first: the report and the JSON then carry the ids it was recorded under.
        recorded = _record(store, first, second)
        if recorded is None:
            status = 1
        else:
            comparison_id, first, second = recorded
    if report is not None:
        try:
            render("comparison", ComparisonRecord(first, second, id=comparison_id, mode="sequential"), report)
        except OSError as exc:
            print(f"connscope: error: cannot write the report to {report}: {exc.strerror}", file=sys.stderr)
            status = 1
        else:
            print(f"wrote the comparison's report to {report}", file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                {
                    "comparison_id": comparison_id,
                    "a": first.model_dump(mode="json"),
                    "b": second.model_dump(mode="json"),
                    "diff": [row.model_dump() for row in diff_table(first, second)],
                    "finding": finding(first, second),
                }
            )
        )
    else:
        tables = (f"{side.upper()}\n{render_table(result)}" for side, result in zip(SIDES, results, strict=True))
        print("\n\n".join([*tables, render_comparison(first, second)]))
    return status


def _record(store: RunStore, a: RunResult, b: RunResult) -> tuple[int, RunResult, RunResult] | None:
    """The comparison's id and both results with their run ids, or None (said) when the
    store refused them."""
    try:
        run_a, run_b = store.save(a), store.save(b)
        comparison = ComparisonStore(store).save(run_a, run_b, "sequential", finding(a, b))
    except StoreError as exc:
        print(f"connscope: error: the comparison was not recorded: {exc}", file=sys.stderr)
        return None
    print(f"recorded as comparison {comparison} (runs {run_a} and {run_b})", file=sys.stderr)
    return comparison, a.model_copy(update={"run_id": run_a}), b.model_copy(update={"run_id": run_b})
