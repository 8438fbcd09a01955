"""Two runs of the same burst side by side: their settings diff, a table of figures with
the better side marked, and a finding in plain words, all computed from the two results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.numbers import article, ms_text, percent, percent_text
from app.result import RunResult
from app.sandbox.engines import ENGINES, own_settings, setting_text
from app.sandbox.settings import TargetSettings
from app.traffic.spec import BurstSpec

NOISE_MS = 1.0
NOISE_RELATIVE = 0.05
"""Two times within 1 ms or 5% of each other are within noise: one run of each side says no
more than that (scheduling on a shared machine moves a time by that much). Counts are exact."""

Better = Literal["a", "b", "equal", "within noise"]
Unjudged = Literal["503 rates differ", "queue overflowed"]
SHORT_NAMES = {"limit_concurrency": "limit", "timeout_keep_alive": "keep-alive timeout"}
MODES = {
    "sequential": "one after the other",
    "concurrent": "ran at the same time: they shared the CPU",
}


@dataclass(frozen=True, slots=True)
class ComparisonRecord:
    """Two runs to compare; a recorded comparison has its id, time and mode."""

    a: RunResult
    b: RunResult
    id: int | None = None
    recorded_at: str | None = None
    mode: str | None = None

    @property
    def mode_label(self) -> str | None:
        return MODES.get(self.mode) if self.mode else None


class SettingDiff(BaseModel):
    name: str
    a: object
    b: object
    only: Literal["a", "b"] | None = Field(
        None, description="The one side whose server has this setting (A and B run different servers); null: both."
    )


class SettingRow(BaseModel):
    """A row of the settings table: each side's value as its run's report writes it, or that
    its server has no such setting."""

    name: str
    a: str
    b: str
    differs: bool


class DiffRow(BaseModel):
    metric: str = Field(description="A stable key, e.g. `latency_p99`.")
    label: str
    unit: Literal["count", "%", "ms"]
    a: float | None
    b: float | None
    prefer: Literal["lower", "higher"] | None = Field(description="Which is better; null: neither.")
    better: Better | None = Field(
        description="The better side; `equal`; `within noise` (times within 1 ms or 5%); null: not comparable "
        "(latency and queue peaks, when the 503 rates differ by more than 5 points: a 503 comes back at once, "
        "and its connection leaves the queue at once; queue peaks, when either side's queue overflowed: it "
        "stayed short by dropping connections)."
    )
    unjudged: Unjudged | None = Field(
        None,
        description="Why a row that has a better side by nature names none (`better` is null): the 503 rates "
        "differ by more than 5 points, or a queue overflowed. Null when the row was judged, or when there is "
        "nothing to judge (a figure missing, or a row like `connections` with no better side).",
    )


def settings_diff(a: TargetSettings, b: TargetSettings) -> list[SettingDiff]:
    """The target settings that differ, in the model's order, each side only its own server's
    (a setting of one side's server alone is listed with `only`: the other has no such thing)."""
    da, db = own_settings(a.model_dump()), own_settings(b.model_dump())
    rows = []
    for name in a.model_dump():
        if name in da and name in db:
            if da[name] != db[name]:
                rows.append(SettingDiff(name=name, a=da[name], b=db[name]))
        elif name in da or name in db:
            rows.append(SettingDiff(name=name, a=da.get(name), b=db.get(name), only="a" if name in da else "b"))
    return rows


def settings_table(a: TargetSettings, b: TargetSettings) -> list[SettingRow]:
    """Both sides' settings, each only its own server's and the workload's, in the model's order."""
    da, db = own_settings(a.model_dump()), own_settings(b.model_dump())
    differs = {d.name for d in settings_diff(a, b)}

    def cell(values: dict[str, object], name: str) -> str:
        if name not in values:
            return f"not {ENGINES[str(values['server'])].title}'s"
        return setting_text(values[name], name)

    return [
        SettingRow(name=name, a=cell(da, name), b=cell(db, name), differs=name in differs)
        for name in TargetSettings.model_fields
        if name in da or name in db
    ]


def burst_diff(a: BurstSpec, b: BurstSpec) -> list[SettingDiff]:
    da, db = a.model_dump(), b.model_dump()
    return [SettingDiff(name=name, a=da[name], b=db[name]) for name in da if da[name] != db[name]]


def rejected_pct(result: RunResult) -> float | None:
    """The share of finished requests answered 503, in percent as shown (app/numbers.py)."""
    requests = result.totals.requests
    return percent(100 * result.totals.rejected / requests) if requests else None


def syn_dropped(result: RunResult) -> int:
    """Clients whose SYN the server's kernel dropped (their TCP_INFO counts a retransmission):
    a full accept queue turning connections away without a word."""
    return sum(1 for c in result.connections if c.syn_retransmits)


def overflowed(result: RunResult) -> bool:
    """The accept queue filled (its peak reached its capacity) or a SYN was dropped."""
    peak, capacity = result.peaks.accept_queue, result.accept_queue_capacity
    return bool(syn_dropped(result)) or (peak is not None and capacity is not None and peak >= capacity)


def _better(a: float | None, b: float | None, prefer: str | None, timed: bool) -> Better | None:
    if a is None or b is None:
        return None
    if a == b:
        return "equal"
    if timed and abs(a - b) <= max(NOISE_MS, NOISE_RELATIVE * max(abs(a), abs(b))):
        return "within noise"
    if prefer is None:
        return None
    lower_is_a = a < b
    return "a" if lower_is_a == (prefer == "lower") else "b"


def _row(
    metric: str,
    label: str,
    unit: str,
    a: float | None,
    b: float | None,
    prefer: str | None,
    unjudged: Unjudged | None = None,
) -> DiffRow:
    # Equal figures are equal whatever the 503 rates, but not past an overflow: a full queue's
    # peak is its capacity, whatever else was turned away. A missing figure needs no reason.
    judged = unjudged is None or a is None or b is None or (a == b and unjudged == "503 rates differ")
    return DiffRow.model_validate(
        {
            "metric": metric,
            "label": label,
            "unit": unit,
            "a": a,
            "b": b,
            "prefer": prefer,
            "better": _better(a, b, prefer, unit == "ms") if judged else None,
            "unjudged": None if judged else unjudged,
        }
    )


REJECTED_PCT_COMPARABLE = 5.0
"""Latency and queue peaks are judged only between sides whose 503 rates are this close
(percentage points): a 503 comes back at once, so the side that turns more away looks fast
and keeps its queue short for it."""


def figure_text(value: float | None, unit: str) -> str:
    """A row's figure as the page, the report and the CLI write it (app/numbers.py's rules):
    1,206 ms, 62.5%, 3."""
    if value is None:
        return "–"
    if unit == "ms":
        return f"{ms_text(value)} ms"
    if unit == "%":
        return percent_text(value)
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def better_text(better: Better | None, unjudged: Unjudged | None = None) -> str:
    """The better side as a table says it: A, B, equal, within noise, "not judged (why)", or
    – (nothing to judge: a figure missing, or a row with no better side)."""
    if unjudged is not None:
        return f"not judged ({unjudged})"
    return {"a": "A", "b": "B"}.get(better or "", better or "–")


def diff_table(a: RunResult, b: RunResult) -> list[DiffRow]:
    """Outcomes, 503 rate, latency percentiles, connect-time tail, SYNs dropped, peaks: A against B."""
    rows = [_row("connections", "connections", "count", a.totals.connections, b.totals.connections, None)]
    rows.append(_row("ok", "ok", "count", a.totals.ok, b.totals.ok, "higher"))
    for outcome in ("rejected", "error", "refused", "reset", "timeout", "cancelled"):
        label = "rejected (503)" if outcome == "rejected" else outcome
        rows.append(_row(outcome, label, "count", getattr(a.totals, outcome), getattr(b.totals, outcome), "lower"))
    pct_a, pct_b = rejected_pct(a), rejected_pct(b)
    rows.append(_row("rejected_pct", "503 rate", "%", pct_a, pct_b, "lower"))
    judged = pct_a is None or pct_b is None or abs(pct_a - pct_b) <= REJECTED_PCT_COMPARABLE
    rates: Unjudged | None = None if judged else "503 rates differ"
    for name in ("p50", "p90", "p99", "p99_9", "max"):
        label = "p99.9" if name == "p99_9" else name
        va, vb = getattr(a.latency_ms, name, None), getattr(b.latency_ms, name, None)
        rows.append(_row(f"latency_{name}", f"latency {label}", "ms", va, vb, "lower", rates))
    for name in ("p99", "max"):
        va, vb = getattr(a.connect_ms, name, None), getattr(b.connect_ms, name, None)
        rows.append(_row(f"connect_{name}", f"connect time {name}", "ms", va, vb, "lower"))
    rows.append(_row("syn_dropped", "clients with a SYN dropped", "count", syn_dropped(a), syn_dropped(b), "lower"))
    # A side that answers 503 at once keeps its queue short for it, as it looks fast for it;
    # a side whose queue overflowed kept it short by dropping connections at the door.
    queue_unjudged: Unjudged | None = "queue overflowed" if overflowed(a) or overflowed(b) else rates
    queue_a, queue_b = a.peaks.accept_queue, b.peaks.accept_queue
    rows.append(_row("peak_accept_queue", "peak accept queue", "count", queue_a, queue_b, "lower", queue_unjudged))
    rows.append(_row("peak_queued", "peak queued", "count", a.peaks.queued, b.peaks.queued, "lower", queue_unjudged))
    rows.append(_row("peak_active", "peak active", "count", a.peaks.active, b.peaks.active, None))
    return rows


def side_label(settings: TargetSettings, other: TargetSettings, fallback: str) -> str:
    """What sets a side apart, in its server's own words ("limit 50"; "Granian with
    backpressure 2 per worker" against uvicorn), or its letter."""
    differing = [d for d in settings_diff(settings, other) if d.only in (None, "a")]
    if not differing:
        return fallback
    values = settings.model_dump()
    engine = ENGINES[settings.server]
    gate = engine.gate[0] if engine.gate is not None else None
    said = []
    if settings.server != other.server or any(d.name == gate for d in differing):
        said.append(gate_label(values, named=settings.server != other.server))
    skip = {"server", gate}
    said += [_setting(d.name, d.a) for d in differing if d.name not in skip and d.only is None]
    return ", ".join(said[:3])


def gate_label(values: dict[str, Any], named: bool = False) -> str:
    """A side's gate as its label says it: "limit 2", with the server's name when `named`
    ("uvicorn with limit 2", "Hypercorn (no concurrency gate)")."""
    engine = ENGINES[str(values["server"])]
    if engine.gate is None:
        return f"{engine.title} (no concurrency gate)"
    value = engine.gate_value(values)
    default = value is not None and values[engine.gate[0]] is None
    said = engine.gate_words(value, int(values.get("workers") or 1), default)
    if value is None:
        return said if named else f"no {SHORT_NAMES.get(engine.gate[0], engine.gate[0])}"
    if named and not said.startswith(engine.title):
        return f"{engine.title} with {said}"
    return said if named else said.removeprefix(f"{engine.title} with ")


def _setting(name: str, value: object) -> str:
    short = SHORT_NAMES.get(name, name)
    text = setting_text(value, name)
    return f"no {short}" if text == "none" else f"{short} {text}"


def traffic(spec: BurstSpec) -> str:
    """The burst in a few words: "at 300 new connections/s", "50 connections at once"."""
    if spec.pattern == "rate":
        return f"{spec.connections} connections at {spec.rate:g} new connections/s"
    if spec.pattern == "ramp":
        return f"{spec.connections} connections over {spec.ramp_s:g} s"
    return f"{spec.connections} connections at once"


def _side(label: str, result: RunResult) -> str:
    t = result.totals
    pct = rejected_pct(result)
    turned = "none" if not t.rejected else f"{pct:g}% with 503"
    # A request that timed out or failed is neither served nor turned away: said, or a side
    # whose every request timed out would read as turning away none.
    failed = [
        f"{n} {word}"
        for n, word in ((t.timeout, "timed out"), (t.refused, "refused"), (t.reset, "reset"), (t.error, "failed"))
        if n
    ]
    if failed:
        turned += f" ({', '.join(failed)})"
    p99 = result.latency_ms.p99
    return f"{label} turns away {turned} and p99 is {'unknown' if p99 is None else ms_text(p99) + ' ms'}"


def _backlog(a: RunResult, b: RunResult, label_a: str, label_b: str) -> str:
    filled = [
        label
        for label, r in ((label_a, a), (label_b, b))
        if r.peaks.accept_queue is not None
        and r.accept_queue_capacity is not None
        and r.peaks.accept_queue >= r.accept_queue_capacity
    ]
    if not filled:
        return "the backlog never filled"
    return "the backlog filled on " + " and on ".join(filled)


def _same_handler(a: TargetSettings, b: TargetSettings) -> bool:
    """Both sides serve the workload with the same handler: the finding can name it once.
    A user's app has no handler settings (they do not apply to it)."""
    return (a.handler, a.handler_mix, a.handler_ms) == (b.handler, b.handler_mix, b.handler_ms)


def finding(a: RunResult, b: RunResult) -> str:
    """E.g. "with 20 connections at 300 new connections/s, limit 50 turns away 12% with 503 and
    p99 is 410 ms; limit 100 turns away none and p99 is 230 ms; the backlog never filled"."""
    label_a = side_label(a.settings, b.settings, "A")
    label_b = side_label(b.settings, a.settings, "B")
    if label_a == label_b:
        label_a, label_b = f"A ({label_a})", f"B ({label_b})"
    handler = ""
    if a.settings.app is not None and a.settings.app == b.settings.app:
        handler = f" and the app {a.settings.app}"
    elif a.settings.app is None and b.settings.app is None and _same_handler(a.settings, b.settings):
        ms = f"{a.settings.handler_ms:g}"
        kind = f"{a.settings.handler} " if a.settings.handler_mix is None else ""
        handler = f" and {article(ms)} {ms} ms {kind}handler"
    bursts = traffic(a.burst) if a.burst == b.burst else f"different bursts ({traffic(a.burst)}; {traffic(b.burst)})"
    return f"With {bursts}{handler}, {_side(label_a, a)}; {_side(label_b, b)}; {_backlog(a, b, label_a, label_b)}."
