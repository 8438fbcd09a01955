"""`connscope runs` and `connscope export`: the run store from the command line (`runs` lists
the comparisons and sweeps too, by the ids `connscope report` takes)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.errors import StoreError
from app.export import FORMATS
from app.store import ComparisonStore, RunStore, default_path


def _existing_store(path: Path | None) -> RunStore | None:
    """The store to read from, or None (said on stderr) when there is none at that path."""
    where = path or default_path()
    if not where.is_file():
        print(f"connscope: error: no run store at {where} (record runs with `connscope run --record`)", file=sys.stderr)
        return None
    try:
        return RunStore(where)
    except StoreError as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return None


def cmd_runs(args: argparse.Namespace) -> int:
    store = _existing_store(args.store)
    if store is None:
        return 2
    if args.runs_command == "delete":
        if not store.delete(args.run_id):
            print(f"connscope: error: no run {args.run_id} in {store.path}", file=sys.stderr)
            return 2
        print(f"deleted run {args.run_id}", file=sys.stderr)
        return 0
    try:
        runs = store.list()
        comparisons = ComparisonStore(store).list()
        sweeps = store.list_sweeps()
    except StoreError as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return 2
    for run in runs:
        print(f"{run.id}\t{run.recorded_at}\t{run.scenario or '-'}\t{run.summary}")
    # After the runs, under the ids `connscope report` takes: the runs' lines stay as they were.
    for comparison in comparisons:
        runs_of = f"runs {comparison.run_a} (A) and {comparison.run_b} (B)"
        print(f"comparison:{comparison.id}\t{comparison.recorded_at}\t{runs_of}\t{comparison.summary}")
    for sweep in sweeps:
        print(f"sweep:{sweep.id}\t{sweep.recorded_at}\t{len(sweep.run_ids)} runs\t{sweep.summary}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    store = _existing_store(args.store)
    if store is None:
        return 2
    try:
        result = store.get(args.run_id)
    except StoreError as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return 2
    if result is None:
        print(f"connscope: error: no run {args.run_id} in {args.store or default_path()}", file=sys.stderr)
        return 2
    text = FORMATS[args.format](result)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        try:
            Path(args.output).write_text(text)
        except OSError as exc:
            print(f"connscope: error: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return 2
        print(f"wrote run {args.run_id} as {args.format} to {args.output}", file=sys.stderr)
    return 0
