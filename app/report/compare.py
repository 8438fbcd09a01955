"""A comparison's report: both settings, the traffic, the table with the better side
marked and a finding in plain words; report.json holds every number the finding quotes,
the PNG beside them plots latency percentiles and the 503 rate of both sides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.comparison import (
    ComparisonRecord,
    better_text,
    burst_diff,
    diff_table,
    figure_text,
    finding,
    rejected_pct,
    settings_diff,
    settings_table,
    side_label,
    traffic,
)
from app.numbers import three_digits
from app.report.files import ReportFiles
from app.report.run import _md
from app.result import RunResult
from app.sandbox.engines import own_settings

PERCENTILES = ("p50", "p90", "p99", "p99_9", "max")


def _round(value: float | None) -> float | None:
    return None if value is None else three_digits(value)


def _side(result: RunResult, label: str) -> dict[str, Any]:
    """One side's figures; times to 3 significant digits, as the finding says them."""
    return {
        "label": label,
        "run_id": result.run_id,
        # Its own server's settings only, as a run's report lists them.
        "settings": own_settings(result.settings.model_dump(mode="json")),
        "totals": result.totals.model_dump(mode="json"),
        "rejected_pct": rejected_pct(result),
        "latency_ms": {name: _round(getattr(result.latency_ms, name, None)) for name in PERCENTILES},
        "connect_ms": {name: _round(getattr(result.connect_ms, name, None)) for name in PERCENTILES},
        "peaks": result.peaks.model_dump(mode="json"),
        "accept_queue_capacity": result.accept_queue_capacity,
        "duration_ms": result.duration_ms,
        "cancelled": result.cancelled,
    }


def data(record: ComparisonRecord) -> dict[str, Any]:
    """report.json: what the Markdown and the finding are written from."""
    a, b = record.a, record.b
    return {
        "kind": "comparison",
        "id": record.id,
        "recorded_at": record.recorded_at,
        "mode": record.mode,
        "mode_label": record.mode_label,
        "traffic": traffic(a.burst),
        "burst": a.burst.model_dump(mode="json"),
        "burst_diff": [d.model_dump(mode="json") for d in burst_diff(a.burst, b.burst)],
        "a": _side(a, side_label(a.settings, b.settings, "A")),
        "b": _side(b, side_label(b.settings, a.settings, "B")),
        "settings_table": [row.model_dump(mode="json") for row in settings_table(a.settings, b.settings)],
        "settings_diff": [d.model_dump(mode="json") for d in settings_diff(a.settings, b.settings)],
        "diff": [row.model_dump(mode="json") for row in diff_table(a, b)],
        "finding": finding(a, b),
    }


def _column(side: str, run_id: int | None) -> str:
    return side if run_id is None else f"{side} (run {run_id})"


def markdown(report: dict[str, Any], out: ReportFiles | None) -> str:
    a, b = report["a"], report["b"]
    if report["id"] is not None:
        title = f"Comparison {report['id']}"
    elif a["run_id"] is not None and b["run_id"] is not None:
        title = f"Runs {a['run_id']} and {b['run_id']}"
    else:
        # `connscope compare --report` without --record: nothing in the store to name.
        title = "Comparison (not recorded)"
    lines = [f"# {title}: {a['label']} against {b['label']}", "", f"**Finding:** {report['finding']}", ""]
    if report["mode_label"]:
        lines += [f"Ran {report['mode_label']}." if report["mode"] == "sequential" else f"{report['mode_label']}.", ""]
    lines += [f"Traffic: {report['traffic']} (the same arrival schedule on both sides).", ""]
    if report["burst_diff"]:
        changed = ", ".join(f"{d['name']} {_md(d['a'])} / {_md(d['b'])}" for d in report["burst_diff"])
        lines += [f"The bursts differ: {changed}.", ""]
    differs = {d["name"] for d in report["settings_diff"]}
    header = f"| setting | {_column('A', a['run_id'])} | {_column('B', b['run_id'])} |"
    lines += ["## Settings", "", header, "| --- | --- | --- |"]
    for row in report["settings_table"]:
        mark = "**" if row["name"] in differs else ""
        lines.append(f"| {mark}{row['name']}{mark} | {_md(row['a'])} | {_md(row['b'])} |")
    lines += ["", "## Results", "", "| figure | A | B | better |", "| --- | --- | --- | --- |"]
    for row in report["diff"]:
        a_text, b_text = figure_text(row["a"], row["unit"]), figure_text(row["b"], row["unit"])
        lines.append(f"| {row['label']} | {a_text} | {b_text} | {better_text(row['better'], row.get('unjudged'))} |")
    lines += [
        "",
        "Times in ms from each request's intended start. Times within 1 ms or 5% of each other are marked "
        "“within noise”: one run of each side says no more. Latency and queue peaks are “not judged” when "
        "the 503 rates differ by more than 5 points (a 503 comes back at once and leaves the queue short), "
        "queue peaks also when a queue overflowed (it stayed short by dropping connections); – marks a row "
        "with nothing to judge. "
        "Counts are exact.",
        "",
    ]
    if out is not None:
        lines += [f"![latency percentiles and 503 rate, A and B]({out.link(out.png)})", ""]
        lines += [f"The numbers behind this report: [{_md(out.json.name)}]({out.link(out.json)}).", ""]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    """Latency percentiles side by side, and the 503 rate (matplotlib, Agg: no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [
        n for n in PERCENTILES if report["a"]["latency_ms"][n] is not None or report["b"]["latency_ms"][n] is not None
    ]
    figure, (latency, rejected) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.38
    for offset, side in ((-width / 2, "a"), (width / 2, "b")):
        values = [report[side]["latency_ms"][n] or 0 for n in names]
        latency.bar(
            [i + offset for i in range(len(names))], values, width, label=f"{side.upper()}: {report[side]['label']}"
        )
    latency.set_xticks(range(len(names)), [n.replace("_", ".") for n in names])
    latency.set_ylabel("latency (ms)")
    # Above the bars, not over them: a side's p50 bar sat under the legend's box.
    columns = 2 if max(len(report[side]["label"]) for side in ("a", "b")) <= 32 else 1
    latency.legend(fontsize="small", loc="lower left", bbox_to_anchor=(0, 1.01), ncol=columns, frameon=False)
    rates = [report["a"]["rejected_pct"] or 0, report["b"]["rejected_pct"] or 0]
    rejected.bar(["A", "B"], rates, color=["C0", "C1"])
    # From 0, and to 100 when neither side turned anyone away: two empty bars on an axis of
    # ±0.04 read as a broken chart; on 0–100 they read as none.
    rejected.set_ylim(0, max(rates) * 1.1 if max(rates) > 0 else 100)
    rejected.set_ylabel("503 rate (%)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def render(record: ComparisonRecord, out: ReportFiles) -> Path:
    """Writes the Markdown report, its JSON and its PNG; returns the Markdown's path."""
    report = data(record)
    out.json.write_text(json.dumps(report, indent=1) + "\n")
    plot(report, out.png)
    out.markdown.write_text(markdown(report, out))
    return out.markdown
