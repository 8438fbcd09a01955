"""The report of one run: its settings, its traffic, its results, a plot and a finding in
plain words. Every number the finding quotes is one of `figures(result)`, written to
`report.json` beside the report with the run's result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.numbers import article, ms_text, percent, three_digits
from app.numbers import text as _n
from app.report.files import ReportFiles
from app.result import PERCENTILE_LABELS, LatencyPercentiles, RunResult
from app.sandbox.engines import ENGINE_FIELDS, ENGINES, setting_text
from app.timeline.histogram import PRECISION
from app.timeline.model import Outcome, State
from app.vocabulary import VOCABULARY

REJECTED_STATUS = 503
OTHER_OUTCOMES = {
    Outcome.ERROR: "ended in an error",
    Outcome.REFUSED: "were refused",
    Outcome.RESET: "were reset",
    Outcome.TIMEOUT: "timed out",
    Outcome.CANCELLED: "were cancelled",
}


def render(result: RunResult, out: ReportFiles) -> Path:
    """Writes the Markdown report, its PNG and its JSON; returns the Markdown's path."""
    numbers = figures(result)
    text = finding(numbers)
    out.json.write_text(
        json.dumps(
            {"kind": "run", "finding": text, "figures": numbers, "result": result.model_dump(mode="json")}, indent=1
        )
    )
    plot(result, out.png)
    out.markdown.write_text(markdown(result, numbers, text, out))
    return out.markdown


def _percent(part: int, whole: int) -> float | int | None:
    """part of whole in %, as said: never 0 when some, never 100 when not all."""
    return None if whole == 0 else percent(100 * part / whole)


def figures(result: RunResult) -> dict[str, Any]:
    """The derived numbers the finding quotes, rounded as it quotes them."""
    s, b, t = result.settings, result.burst, result.totals
    latency = result.latency_ms
    counts = t.model_dump()
    return {
        "pattern": b.pattern,
        "connections": b.connections,
        "rate_per_s": three_digits(b.rate) if b.pattern == "rate" else None,
        "ramp_s": three_digits(b.ramp_s) if b.pattern == "ramp" else None,
        "handler_ms": three_digits(s.handler_ms),
        "handler_latency": s.latency,
        "app": s.app,
        "limit_concurrency": s.limit_concurrency,
        "server": s.server,
        "workers": s.workers,
        # The engine's own gate (uvicorn's limit_concurrency, Granian's backpressure) per worker.
        "gate": ENGINES[s.server].gate_value(s.model_dump()),
        "gate_default": _gate_default(s.model_dump()),
        "requests": t.requests,
        "ok": t.ok,
        "rejected": t.rejected,
        "rejected_status": REJECTED_STATUS,
        "rejected_pct": _percent(t.rejected, t.requests),
        "others": {o.value: counts[o.value] for o in OTHER_OUTCOMES if counts[o.value]},
        "p99_ms": None if latency.p99 is None else three_digits(latency.p99),
        "max_ms": None if latency.max is None else three_digits(latency.max),
        "peak_active": result.peaks.active,
        "accept_queue_peak": result.peaks.accept_queue,
        "accept_queue_capacity": result.accept_queue_capacity,
        "backlog_filled": (
            None
            if result.peaks.accept_queue is None or result.accept_queue_capacity is None
            else result.peaks.accept_queue >= result.accept_queue_capacity
        ),
        "cut_short": result.cancelled is not None,
    }


def _gate_default(values: dict[str, Any]) -> bool:
    """Whether the gate's bound is the engine's own default (Granian's empty backpressure)."""
    engine = ENGINES[values["server"]]
    return engine.gate is not None and values[engine.gate[0]] is None and engine.gate_value(values) is not None


def finding(f: dict[str, Any]) -> str:
    """One sentence from `figures` alone, e.g. "at 300 new connections/s with a 200 ms handler,
    limit 50 turns away 12% (240 of 2,000) with 503 and p99 is 410 ms; the backlog never
    filled (peak 37 of 128)"."""
    if f["pattern"] == "rate":
        traffic = f"at {_n(f['rate_per_s'])} new connections/s"
    elif f["pattern"] == "ramp":
        traffic = f"with {_n(f['connections'])} connections spread over {_n(f['ramp_s'])} s"
    else:
        traffic = f"with {_n(f['connections'])} connections arriving at once"
    if f.get("app"):
        # A user's app: the handler settings do not apply to it.
        traffic += f" and the app {f['app']}"
    else:
        ms = _n(f["handler_ms"])
        traffic += f" and {article(ms)} {ms} ms handler"
        if f.get("handler_latency", "fixed") != "fixed":
            traffic += f" ({f['handler_latency']} around it)"
    # Figures written before engines had their own words carry only limit_concurrency.
    limit = ENGINES[f.get("server", "uvicorn")].gate_words(
        f.get("gate", f["limit_concurrency"]), f.get("workers", 1), f.get("gate_default", False)
    )
    if f["requests"] == 0:
        outcome = f"{limit} answers no request"
    elif f["rejected"] == 0:
        outcome = f"{limit} turns away none"
    else:
        outcome = (
            f"{limit} turns away {_n(f['rejected_pct'])}% ({_n(f['rejected'])} of {_n(f['requests'])}) "
            f"with {f['rejected_status']}"
        )
    if f["p99_ms"] is not None:
        outcome += f" and p99 is {_n(f['p99_ms'])} ms (max {_n(f['max_ms'])} ms)"
    parts = [f"{traffic}, {outcome}"]
    others = f["others"]
    if others:
        parts.append(", ".join(f"{_n(n)} {OTHER_OUTCOMES[Outcome(name)]}" for name, n in others.items()))
    if f["backlog_filled"] is None:
        parts.append("the kernel's accept queue was not sampled")
    else:
        filled = "filled" if f["backlog_filled"] else "never filled"
        parts.append(f"the backlog {filled} (peak {_n(f['accept_queue_peak'])} of {_n(f['accept_queue_capacity'])})")
    sentence = "; ".join(parts)
    if f["cut_short"]:
        sentence = "the burst was cut short, so this covers only part of it: " + sentence
    return sentence[0].upper() + sentence[1:] + "."


def _md(value: object) -> str:
    """A value in Markdown text or a table cell, markup characters escaped."""
    text = "none" if value is None else str(value)
    for char in "\\`*[]<>|":
        text = text.replace(char, "\\" + char)
    return text


def traffic_words(result: RunResult) -> str:
    b = result.burst
    if b.pattern == "rate":
        arrivals = f"{b.connections:,} connections opened at {b.rate:g} new connections/s"
    elif b.pattern == "ramp":
        arrivals = f"{b.connections:,} connections opened evenly over {b.ramp_s:g} s"
    else:
        arrivals = f"{b.connections:,} connections opened at once"
    each = "1 request" if b.requests_per_connection == 1 else f"{b.requests_per_connection:,} requests (keep-alive)"
    pause = f", {b.pause_ms:g} ms apart" if b.requests_per_connection > 1 and b.pause_ms else ""
    return (
        f"{arrivals}, each sending {each}{pause} to {_md(b.path)}; each request gives up after "
        f"{b.client_timeout_s:g} s from its intended start."
    )


def _percentile_row(name: str, p: LatencyPercentiles) -> str:
    return f"| {name} | " + " | ".join(ms_text(v) for v in p.model_dump().values()) + " |"


def markdown(result: RunResult, f: dict[str, Any], text: str, out: ReportFiles) -> str:
    t = result.totals
    counts = t.model_dump()
    title = f"run {result.run_id}" if result.run_id is not None else "a run"
    lines = [f"# connscope report: {title}", ""]
    if result.scenario:
        lines += [f"Scenario: {_md(result.scenario)}", ""]
    lines += [
        f"**Finding.** {_md(text)}",
        "",
        "## Settings",
        "",
        f"| setting ({result.settings.server}'s name) | value |",
        "| --- | --- |",
    ]
    # The server's own settings and the workload's, not every other engine's at its default.
    others = set(ENGINE_FIELDS) - set(ENGINES[result.settings.server].settings_fields)
    lines += [
        f"| `{name}` | {_md(setting_text(value, name) if name in ENGINE_FIELDS else value)} |"
        for name, value in result.settings.model_dump().items()
        if name not in others
    ]
    lines += [
        f"| accept queue capacity (kernel: backlog capped by somaxconn) | {_md(result.accept_queue_capacity)} |",
        "",
        "## Traffic",
        "",
        traffic_words(result),
        "",
        "## Results",
        "",
        "| outcome | requests | share |",
        "| --- | ---: | ---: |",
    ]
    for outcome in Outcome:
        share = _percent(counts[outcome.value], t.requests)
        lines.append(f"| {outcome.value} | {counts[outcome.value]:,} | {'–' if share is None else f'{share}%'} |")
    lines += [f"| **requests** | {t.requests:,} | |", ""]
    rate = f["rejected_pct"]
    lines += [f"503 rate: {'–' if rate is None else f'{rate}%'} ({t.rejected:,} of {t.requests:,}).", ""]
    lines += ["| ms | " + " | ".join(PERCENTILE_LABELS.values()) + " |", "| --- |" + " ---: |" * len(PERCENTILE_LABELS)]
    lines += [
        _percentile_row("latency (intended start → outcome)", result.latency_ms),
        _percentile_row("connect (connect() → established)", result.connect_ms),
        "",
        f"Percentiles: {PRECISION}.",
        "",
        "| peak at one instant | connections |",
        "| --- | ---: |",
    ]
    peaks = result.peaks.model_dump()
    lines += [f"| {name} | {_md(peaks[name])} |" for name in ("queued", "accepted", "active")]
    lines += [
        f"| accept queue (kernel's samples) | {_md(result.peaks.accept_queue)} |",
        f"| accept queue capacity | {_md(result.accept_queue_capacity)} |",
        _slots_row(result, f),
        "",
        "## Plot",
        "",
        f"![Connections in each state over time, and the latency histogram with its percentiles]({out.link(out.png)})",
        "",
        f"The numbers behind this report, the run's full result among them: {_md(out.json.name)}.",
        "",
    ]
    return "\n".join(lines)


def _slots_row(result: RunResult, f: dict[str, Any]) -> str:
    """The slots' bound under the engine's own setting, per worker, or that it has none."""
    engine = ENGINES[result.settings.server]
    if engine.gate is None:
        return f"| slots ({engine.title} has no concurrency gate) | none |"
    return f"| slots per worker (`{engine.gate[0]}`) | {_md(f['gate'])} |"


def _series(result: RunResult) -> tuple[list[float], dict[State, list[int]]]:
    """Connections in each open state at every change, from the records' state changes."""
    deltas: list[tuple[float, int, State]] = []
    for c in result.connections:
        for (state, t), nxt in zip(c.states, [*c.states[1:], None], strict=True):
            if state is State.CLOSED:
                continue
            deltas.append((t, 1, state))
            if nxt is not None:
                deltas.append((nxt[1], -1, state))
    deltas.sort(key=lambda d: (d[0], d[1]))
    level = dict.fromkeys(State, 0)
    times: list[float] = [0.0]
    series: dict[State, list[int]] = {s: [0] for s in State if s is not State.CLOSED}
    for t, delta, state in deltas:
        level[state] += delta
        times.append(t)
        for s, values in series.items():
            values.append(level[s])
    return times, series


def plot(result: RunResult, path: Path) -> None:
    """Connections over time by state, and the latency histogram with the run's percentiles."""
    # Only the report needs matplotlib: it is imported here, never on the live page's path.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(10, 7), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    over_time, histogram = figure.subplots(2, 1)
    times, series = _series(result)
    for state, values in series.items():
        over_time.step(times, values, where="post", label=VOCABULARY.by_key[state.value].label)
    over_time.set(xlabel="ms since the burst's start", ylabel="connections", title="Connections in each state")
    over_time.legend(loc="upper right", fontsize="small")
    over_time.yaxis.set_major_locator(MaxNLocator(integer=True))

    latencies = [r.latency_ms for c in result.connections for r in c.requests if r.status is not None and r.latency_ms]
    histogram.set(title="Latency (intended start → outcome)", xlabel="ms (log scale)", ylabel="requests")
    if latencies:
        low, high = min(latencies), max(latencies)
        edges = [low * (high / low) ** (i / 40) for i in range(41)] if high > low else [low * 0.9, high * 1.1]
        histogram.hist(latencies, bins=edges)
        histogram.set_xscale("log")
        styles = (":", "--", "-.", (0, (1, 3)), "-")
        for (key, value), style in zip(result.latency_ms.model_dump().items(), styles, strict=True):
            if value is not None:
                label = f"{PERCENTILE_LABELS[key]} {value:g} ms"
                histogram.axvline(value, linestyle=style, color="black", linewidth=1, label=label)
        histogram.legend(loc="upper left", fontsize="small")
    else:
        histogram.text(0.5, 0.5, "no request got a response", ha="center", transform=histogram.transAxes)
    figure.savefig(path, format="png")
