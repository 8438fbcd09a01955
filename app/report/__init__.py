"""Rollout reports: Markdown with the JSON behind it (and a PNG beside it), one renderer per
record kind, each `render(record, out_dir) -> Path` of the report.md it wrote."""

from __future__ import annotations

from pathlib import Path

from app.comparison import ComparisonRecord


def render(record: ComparisonRecord, out_dir: Path) -> Path:
    """Writes the record's report into `out_dir`; returns the path of its report.md."""
    from app.report import compare

    return compare.render(record, out_dir)
