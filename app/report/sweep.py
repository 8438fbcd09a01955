"""A sweep's rollout report: report.md with the settings, the axes, the table, the plot,
the noise and a finding in plain words, every number taken from report.json beside it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.numbers import article
from app.report.files import ReportFiles
from app.report.sweep_plot import write_png
from app.sandbox.engines import own_settings, setting_text
from app.sweep import FIGURES, MEDIAN_NOTE, NOISE_NOTE, describe, number, previous_on_line, table


def _traffic(record: Mapping[str, Any]) -> str:
    """The traffic and handler in a few words, from the sweep's base settings."""
    sweep = record["sweep"]
    swept = {a["name"] for a in sweep["axes"]}
    burst, settings = sweep["burst"], sweep["settings"]
    if burst["pattern"] == "rate" and "rate" not in swept:
        arrivals = f"at {burst['rate']:g} new connections/s ({burst['connections']} connections)"
    elif burst["pattern"] == "ramp" and "ramp_s" not in swept:
        arrivals = f"with {burst['connections']} connections arriving over {burst['ramp_s']:g} s"
    else:
        arrivals = f"with {burst['connections']} connections ({burst['pattern']})"
    if settings.get("app"):
        return f"{arrivals} with the app {settings['app']}"
    if "handler_ms" in swept:
        return arrivals
    ms = f"{settings['handler_ms']:g}"
    return f"{arrivals} with {article(ms)} {ms} ms {settings['handler']} handler"


def finding(record: Mapping[str, Any]) -> str:
    """What the sweep measured, cell by cell, in the words a ticket uses: the 503 share and
    the p99 of each, then which neighbours the noise cannot tell apart."""
    parts = []
    for cell in record["cells"]:
        if not cell["figures"]:
            continue
        where = ", ".join(f"{k} {setting_text(v, k)}" for k, v in cell["swept"].items()) or "the one cell"
        rate = cell["summary"]["rejected_rate"]["median"]
        turned = "none" if not rate else number("rejected_rate", rate)
        p99 = cell["summary"]["p99_ms"]["median"]
        parts.append(f"{where} turns away {turned} with 503 and p99 is {number('p99_ms', p99)} ms")
    if not parts:
        return "No run of the sweep finished."
    text = f"{_traffic(record)[:1].upper()}{_traffic(record)[1:]}, " + "; ".join(parts) + "."
    queues = [c["summary"]["peak_queue"]["max"] for c in record["cells"] if c["figures"]]
    if queues and all(q is not None for q in queues):
        text += f" The accept queue's peak was {number('peak_queue', max(queues))} (connections waiting for accept())."
    return text + _noise_sentence(record)


def _noise_sentence(record: Mapping[str, Any]) -> str:
    if record["sweep"]["repeat"] < 2:
        return " Each cell ran once: run with --repeat to see how much these figures vary."
    axes, cells = record["sweep"]["axes"], record["cells"]
    same = []
    for index, cell in enumerate(cells):
        before = previous_on_line(axes, index)
        noise = cell.get("within_noise") or {}
        if before is None:
            continue
        figures = [FIGURES[k][0] for k in ("rejected_rate", "p99_ms", "ok_per_s") if noise.get(k)]
        if figures:
            a = ", ".join(f"{k} {setting_text(v, k)}" for k, v in cells[before]["swept"].items())
            b = ", ".join(f"{k} {setting_text(v, k)}" for k, v in cell["swept"].items())
            same.append(f"{a} and {b} in {' and '.join(figures)}")
    if not same:
        return (
            f" Over {record['sweep']['repeat']} runs per cell, every neighbouring difference in 503 rate, p99 "
            "and throughput is larger than the noise."
        )
    # Said after a lead-in: a sentence that began with a setting's name capitalised it
    # ("Limit_concurrency 6 and …").
    repeat = record["sweep"]["repeat"]
    return f" Within the noise (their ranges over {repeat} runs overlap): {'; '.join(same)}."


def _inert(text: str) -> str:
    """Typed values (a path may hold `<`, `>`, `|`) as text: no live HTML where the report
    is pasted, no broken table."""
    for char in "\\<>|":
        text = text.replace(char, "\\" + char)
    return text


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    lines += ["| " + " | ".join(_inert(c) for c in row + [""] * (len(header) - len(row))) + " |" for row in rows]
    return "\n".join(lines)


def render(record: Mapping[str, Any], out: ReportFiles) -> Path:
    """Writes the Markdown report, its PNG and its JSON (the record with its finding);
    returns the Markdown's path."""
    sweep = record["sweep"]
    said = finding(record)
    out.json.write_text(json.dumps({**record, "finding": said}, indent=1))
    write_png(record, out.png)
    axes = "\n".join(
        f"- `{a['name']}`: {_inert(', '.join(setting_text(v, a['name']) for v in a['values']))}" for a in sweep["axes"]
    )
    swept = {a["name"] for a in sweep["axes"]}

    def fixed(values: Mapping[str, Any]) -> str:
        return _inert(", ".join(f"{k}={setting_text(v, k)}" for k, v in values.items() if k not in swept))

    header, rows = table(record)
    runs = sorted(r for c in record["cells"] for r in c["run_ids"] if r)
    text = "\n".join(
        [
            f"# connscope sweep{' ' + str(sweep['id']) if sweep.get('id') else ''}",
            "",
            f"{_inert(describe(record))}; {sweep['runs_done']} of {sweep['runs_planned']} runs"
            + (f" ({sweep['error']})" if sweep.get("error") else ""),
            "",
            "## Finding",
            "",
            _inert(said),
            "",
            "## Swept settings",
            "",
            axes or "- none (one cell)",
            "",
            f"Every cell ran on a fresh target, one run at a time, {sweep['repeat']} time(s)"
            + (
                ", going round the grid so a slow drift of the machine spreads over every cell."
                if sweep["repeat"] > 1
                else "."
            ),
            "",
            f"- target: {fixed(own_settings(sweep['settings']))}",
            f"- burst: {fixed(sweep['burst'])}",
            "",
            "## Results",
            "",
            _markdown_table(header, rows),
            "",
            (
                f"Median [min–max] of {sweep['repeat']} runs per cell, {MEDIAN_NOTE}. {NOISE_NOTE}."
                if sweep["repeat"] > 1
                else "One run per cell: no spread measured."
            ),
            "503 rate: share of requests answered 503; latency: every answered request (503s included), from its "
            "intended start; "
            "ok/s: ok responses per second of the run; peaks: most connections at one instant.",
            "",
            f"![503 rate, p99 latency and ok throughput against the swept settings]({out.link(out.png)})",
            "",
            f"Recorded runs: {', '.join(str(r) for r in runs) if runs else 'none'}. "
            f"The numbers are in {_inert(out.json.name)}.",
            "",
        ]
    )
    out.markdown.write_text(text)
    return out.markdown
