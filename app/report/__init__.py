"""Rollout reports: `connscope report ID -o rollout.md` writes a Markdown report of a recorded
record, with a PNG plot and the numbers behind it beside it (`rollout.png`, `rollout.json`).

Each record kind has a `Kind`: how to load one from the store and its renderer,
`render(record, ReportFiles) -> Path` (the Markdown it wrote). Add a kind to `KINDS`; its
records are named `KIND:ID` on the command line (a bare ID is a run)."""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.errors import StoreError
from app.report import compare, run, sweep
from app.report.files import ReportFiles
from app.store import ComparisonStore, RunStore, default_path


@dataclass(frozen=True, slots=True)
class Kind:
    noun: str
    """How a message names one record: "run"."""
    load: Callable[[RunStore, int], Any | None]
    """The record, or None when the store has no record of this kind with that id."""
    render: Callable[[Any, ReportFiles], Path]


KINDS: dict[str, Kind] = {
    "run": Kind("run", RunStore.get, run.render),
    "sweep": Kind("sweep", RunStore.get_sweep, sweep.render),
    "comparison": Kind("comparison", lambda store, i: ComparisonStore(store).record(i), compare.render),
}
DEFAULT_KIND = "run"


class ReportError(Exception):
    """What the user asked for cannot be reported: said in one line."""


def parse_id(text: str) -> tuple[str, int]:
    """`12` (a run) or `KIND:12`."""
    kind, _, number = text.rpartition(":")
    kind = kind or DEFAULT_KIND
    if kind not in KINDS:
        raise ReportError(f"unknown record kind {kind[:40]!r} (known: {', '.join(KINDS)})")
    try:
        return kind, int(number)
    except ValueError:
        raise ReportError(f"ID must be a number or KIND:number, not {text[:40]!r}") from None


def load(store: RunStore, kind: str, record_id: int) -> Any:
    record = KINDS[kind].load(store, record_id)
    if record is None:
        raise ReportError(f"no {KINDS[kind].noun} {record_id} in {store.path}")
    return record


def render(kind: str, record: Any, markdown: Path) -> Path:
    return KINDS[kind].render(record, ReportFiles(markdown))


def zipped(kind: str, record: Any) -> bytes:
    """The report and the files beside it, as one zip (the dashboard's download)."""
    with tempfile.TemporaryDirectory(prefix="connscope-report-") as tmp:
        out_dir = Path(tmp)
        render(kind, record, out_dir / "report.md")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(out_dir.iterdir()):
                archive.write(path, path.name)
        return buffer.getvalue()


def check_output(output: Path) -> None:
    """Refuses (ReportError) a report file that could not be written: asked before the work."""
    if output.suffix.lower() in (".json", ".png"):
        raise ReportError(
            "the report is Markdown, with its .json and .png beside it: "
            f"name it like rollout.md, not {output.name[:60]!r}"
        )
    if output.is_dir():
        # Its .json and .png would be written beside the folder, and the Markdown refused.
        raise ReportError(f"{output} is a directory: name the report file in it, e.g. {output / 'report.md'}")
    out_dir = output.parent
    if not out_dir.is_dir() or not os.access(out_dir, os.W_OK | os.X_OK):
        why = "not writable" if out_dir.is_dir() else "not a directory" if out_dir.exists() else "no such directory"
        raise ReportError(f"cannot write the report to {out_dir}: {why}")


def cmd_report(args: argparse.Namespace) -> int:
    """`connscope report ID -o rollout.md`: the Markdown where asked, its PNG and JSON beside
    it under the same name, so reports written to one folder keep their own numbers."""
    try:
        kind, record_id = parse_id(args.record_id)
        output = Path(args.output)
        check_output(output)
        where = args.store or default_path()
        if not where.is_file():
            raise ReportError(f"no run store at {where} (record runs with `connscope run --record`)")
        record = load(RunStore(where), kind, record_id)
        render(kind, record, output)
    except (ReportError, StoreError) as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"connscope: error: cannot write the report to {args.output}: {exc.strerror}", file=sys.stderr)
        return 2
    files = ReportFiles(output)
    print(
        f"wrote the report of {KINDS[kind].noun} {record_id} to {output} "
        f"(beside it: {files.png.name}, {files.json.name})",
        file=sys.stderr,
    )
    return 0
