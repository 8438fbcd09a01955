"""A sweep: the same burst against a grid of settings, each run on a fresh target, every cell
run `repeat` times, and each figure summarised as median and min–max so a difference
between two cells can be told from the noise."""

from __future__ import annotations

import asyncio
import itertools
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from app.errors import TargetError
from app.experiment import Experiment
from app.fields import readable
from app.limits import Limits
from app.numbers import ms_text, percent_text
from app.result import RunResult
from app.sandbox.apps import UserApp
from app.sandbox.engines import setting_text
from app.sandbox.settings import TargetSettings
from app.traffic.burst import Burst
from app.traffic.spec import BurstSpec

Kind = Literal["target", "burst"]
MODELS: dict[Kind, type[BaseModel]] = {"target": TargetSettings, "burst": BurstSpec}
NONE_WORDS = ("none", "")
"""In a list, an optional setting (limit_concurrency, somaxconn…) takes `none` for not given."""

# Each figure of a run a sweep compares: key → (label, unit).
FIGURES: dict[str, tuple[str, str]] = {
    "ok": ("ok", "requests"),
    "rejected": ("503", "requests"),
    "rejected_rate": ("503 rate", "share of requests"),
    "refused": ("refused", "requests"),
    "reset": ("reset", "requests"),
    "timeout": ("timeout", "requests"),
    "p50_ms": ("p50", "ms"),
    "p99_ms": ("p99", "ms"),
    "p99_9_ms": ("p99.9", "ms"),
    "ok_per_s": ("ok throughput", "ok requests/s"),
    "peak_queue": ("peak queue", "connections in the accept queue"),
    "peak_active": ("peak active", "connections in a concurrency slot"),
}


class SweepValueError(ValueError):
    """One value of a list the model refuses: which setting, which value, pydantic's error."""

    def __init__(self, kind: Kind, name: str, value: Any, error: Mapping[str, Any]) -> None:
        super().__init__(f"{name} {value}: {error['msg']}")
        self.kind = kind
        self.name = name
        self.value = value
        self.error = error
        self.also: tuple[SweepValueError, ...] = ()
        """The first refused value of each other setting, so a form can mark them all."""


@dataclass(frozen=True, slots=True)
class Axis:
    kind: Kind
    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Cell:
    index: int
    swept: dict[str, Any]
    settings: TargetSettings
    burst: BurstSpec


@dataclass(frozen=True, slots=True)
class Plan:
    axes: tuple[Axis, ...]
    cells: tuple[Cell, ...]
    repeat: int
    settings: TargetSettings
    """The first cell's: what the swept settings vary from."""
    burst: BurstSpec

    @property
    def runs(self) -> int:
        return len(self.cells) * self.repeat


def _input(model: type[BaseModel], name: str, value: Any) -> Any:
    optional = not model.model_fields[name].is_required() and model.model_fields[name].default is None
    if optional and isinstance(value, str) and value.strip().lower() in NONE_WORDS:
        return None
    return value


def _across_servers(error: Mapping[str, Any]) -> dict[str, Any]:
    """A list of servers meets another list's setting that one of them does not have: the
    grid pairs every value with every other, which no second list can avoid."""
    said = readable(error).rstrip(".")
    return {
        **error,
        "type": "value_error",
        "ctx": {
            **(error.get("ctx") or {}),
            "error": f"{said}. A sweep runs every combination of its lists, so two servers' own settings "
            "cannot be swept together: compare the two with Compare instead.",
        },
    }


def plan(
    target: Mapping[str, Sequence[Any]],
    burst: Mapping[str, Sequence[Any]],
    repeat: int = 1,
    base_target: Mapping[str, Any] | None = None,
    limits: Limits | None = None,
) -> Plan:
    """The grid from each given setting's list of values (model input, e.g. form strings):
    a setting with two or more values is an axis. Every value is checked on its own first
    (SweepValueError names the first one refused, and the first of each other setting in
    `also`), then every cell as a whole. With `limits`, a list longer than the sweep cap is
    refused before its values are checked, and a grid over the cap (CapExceeded) before its
    cells are built: a few long lists multiply into more cells than memory holds."""
    given: dict[Kind, Mapping[str, Sequence[Any]]] = {"target": target, "burst": burst}
    if limits is not None:
        for name, values in (*target.items(), *burst.items()):
            limits.check_sweep_list(name, len(values))
    bases: dict[Kind, dict[str, Any]] = {
        kind: ({**(base_target or {})} if kind == "target" else {})
        | {name: _input(MODELS[kind], name, values[0]) for name, values in given[kind].items()}
        for kind in given
    }
    axes: list[Axis] = []
    refused: dict[str, SweepValueError] = {}
    for kind, lists in given.items():
        model = MODELS[kind]
        for name, values in lists.items():
            typed = []
            for value in values:
                candidate = bases[kind] | {name: _input(model, name, value)}
                try:
                    checked = model.model_validate(candidate)
                except ValidationError as exc:
                    said: Mapping[str, Any] = exc.errors()[0]
                    if name == "server" and len(values) > 1:
                        said = _across_servers(said)
                    where = str(said["loc"][0]) if said["loc"] else name
                    shown = value if where == name else candidate.get(where)
                    refused.setdefault(where, SweepValueError(kind, where, shown, said))
                    break
                typed.append(getattr(checked, name))
            else:
                distinct = tuple(dict.fromkeys(typed))
                if len(dict.fromkeys(str(v) for v in values)) > 1 and len(distinct) == 1:
                    # The model dropped the field (a burst pattern that does not use it): a
                    # list here would silently sweep nothing.
                    pattern = bases["burst"].get("pattern", "burst")
                    unused = {"msg": f"not used with these settings (pattern {pattern}?)"}
                    shown_values = ",".join(str(v) for v in values[:3]) + "…"
                    refused.setdefault(name, SweepValueError(kind, name, shown_values, unused))
                elif len(distinct) > 1:
                    axes.append(Axis(kind, name, distinct))
    if refused:
        first, *others = refused.values()
        first.also = tuple(others)
        raise first
    if limits is not None:
        limits.check_sweep(math.prod(len(a.values) for a in axes) * repeat)
    # The first axis varies fastest: rows next to each other in the table are neighbours on
    # the plot's x axis, the pairs whose difference the noise column judges.
    combos = [tuple(reversed(c)) for c in itertools.product(*(a.values for a in reversed(axes)))]
    # One seed for the whole grid unless given or swept: every cell and repeat gets the
    # identical arrival schedule, so only the settings differ between them.
    seed = BurstSpec().seeded().seed
    cells = []
    for index, combo in enumerate(combos):
        inputs: dict[Kind, dict[str, Any]] = {"target": dict(bases["target"]), "burst": dict(bases["burst"])}
        if inputs["burst"].get("seed") is None:
            inputs["burst"]["seed"] = seed
        for axis, value in zip(axes, combo, strict=True):
            inputs[axis.kind][axis.name] = value
        try:
            settings = TargetSettings.model_validate(inputs["target"])
            spec = BurstSpec.model_validate(inputs["burst"])
        except ValidationError as exc:
            error = exc.errors()[0]
            field_name = str(error["loc"][0]) if error["loc"] else ""
            side: Kind = "target" if field_name in TargetSettings.model_fields else "burst"
            raise SweepValueError(side, field_name, inputs[side].get(field_name), error) from None
        swept = {axis.name: value for axis, value in zip(axes, combo, strict=True)}
        cells.append(Cell(index, swept, settings, spec))
    return Plan(tuple(axes), tuple(cells), repeat, cells[0].settings, cells[0].burst)


def figures(result: RunResult) -> dict[str, float | None]:
    """The figures a sweep compares, from one run's result."""
    t, peaks, latency = result.totals, result.peaks, result.latency_ms
    seconds = result.duration_ms / 1000
    return {
        "ok": t.ok,
        "rejected": t.rejected,
        "rejected_rate": round(t.rejected / t.requests, 4) if t.requests else None,
        "refused": t.refused,
        "reset": t.reset,
        "timeout": t.timeout,
        "p50_ms": latency.p50,
        "p99_ms": latency.p99,
        "p99_9_ms": latency.p99_9,
        "ok_per_s": round(t.ok / seconds, 2) if seconds > 0 else None,
        "peak_queue": peaks.accept_queue,
        "peak_active": peaks.active,
    }


COUNTS = frozenset({"ok", "rejected", "refused", "reset", "timeout", "peak_queue", "peak_active"})
"""The figures that count things: their median is a run's own count, never half a connection."""


def spread(samples: Sequence[float | None], count: bool = False) -> dict[str, float | None]:
    """Median and min–max of the samples measured (a run without the figure, e.g. no
    latency when nothing answered, is left out). A `count`'s median of an even number of
    runs is the lower middle one (a peak of 0 and 1 is 0, not 0.5)."""
    values = [v for v in samples if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None}
    middle = statistics.median_low(values) if count else statistics.median(values)
    return {"median": round(middle, 4), "min": min(values), "max": max(values)}


def overlap(a: Mapping[str, float | None], b: Mapping[str, float | None]) -> bool | None:
    """Whether two min–max ranges overlap: their difference is within the noise."""
    if None in (a["min"], a["max"], b["min"], b["max"]):
        return None
    return bool(a["min"] <= b["max"] and b["min"] <= a["max"])  # type: ignore[operator]


def previous_on_line(axes: Sequence[Mapping[str, Any]], index: int) -> int | None:
    """The cell before this one on the first axis, the other axes' values the same."""
    if not axes or index % len(axes[0]["values"]) == 0:
        return None
    return index - 1


@dataclass
class CellState:
    cell: Cell
    run_ids: list[int | None] = field(default_factory=list)
    figures: list[dict[str, float | None]] = field(default_factory=list)
    results: list[RunResult] = field(default_factory=list)


@dataclass
class Sweep:
    """A plan being run: cells filled in as their runs end. The runs go round the grid
    `repeat` times rather than repeating a cell back to back, so a slow drift of the machine
    spreads over every cell instead of favouring the first ones."""

    plan: Plan
    keep_results: bool = False
    apps: dict[str, UserApp] = field(default_factory=dict)
    """The user's apps the cells name (TargetSettings.app), by name."""
    state: Literal["running", "done", "stopped", "failed"] = "running"
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    current: Burst | None = None
    current_cell: Cell | None = None

    def __post_init__(self) -> None:
        self.cells = [CellState(cell) for cell in self.plan.cells]
        self.done = 0
        self.cut_short: dict[str, Any] | None = None
        """The run `stop` cut short: recorded, not counted."""
        self.last: CellState | None = None
        """The cell whose run ended last."""
        self._stopping: str | None = None
        self._task: asyncio.Task[RunResult] | None = None

    async def run(
        self,
        record: Callable[[RunResult], Awaitable[int | None]],
        on_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Runs every cell `repeat` times, one run at a time; `record` stores a run and
        returns its id. A run cut short by `stop` is recorded too, saying why."""
        try:
            for _ in range(self.plan.repeat):
                for state in self.cells:
                    if self._stopping is not None:
                        return
                    self.current_cell = state.cell
                    self._task = asyncio.create_task(self._one(state.cell))
                    try:
                        result = await self._task
                    except asyncio.CancelledError:
                        if self._stopping is None:
                            raise
                        # Stopped while the target was starting: nothing was fired.
                        return
                    finally:
                        self.current = None
                    run_id = await record(result)
                    if result.cancelled is not None:
                        # Recorded, but not a sample: a run cut short would drag its cell's figures.
                        self.cut_short = {"cell": state.cell.index, "run_id": run_id, "cancelled": result.cancelled}
                        return
                    state.run_ids.append(run_id)
                    state.figures.append(figures(result))
                    self.last = state
                    if self.keep_results:
                        state.results.append(result.model_copy(update={"run_id": state.run_ids[-1]}))
                    self.done += 1
                    if on_change is not None:
                        await on_change()
        except TargetError as exc:
            self.fail(f"cell {self.current_cell.index + 1 if self.current_cell else '?'}: {exc}")
        except asyncio.CancelledError:
            self.state, self.error = "stopped", self.error or "interrupted"
            raise
        finally:
            self.current = self.current_cell = None
            self.finished = time.monotonic()
            if self.state == "running":
                self.state = "stopped" if self._stopping is not None else "done"
            if on_change is not None:
                await on_change()

    async def _one(self, cell: Cell) -> RunResult:
        # A name without its app is refused, readably, by Experiment.
        app = self.apps.get(cell.settings.app) if cell.settings.app is not None else None
        async with Experiment(cell.settings, app=app) as experiment:
            burst = experiment.add_burst(cell.burst)
            self.current = burst
            try:
                await experiment.fire(burst)
            except asyncio.CancelledError:
                if self._stopping is None:
                    raise
                # Only `stop` cancels a burst: what it did until then is kept, with why it ended.
                burst.cancelled = self._stopping
                asyncio.current_task().uncancel()  # type: ignore[union-attr]
            return experiment.result(burst)

    def stop(self, why: str) -> None:
        self._stopping = why
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def fail(self, error: str) -> None:
        self.state = "failed"
        self.error = error

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def eta_s(self) -> float | None:
        """The runs left at the mean pace so far."""
        if self.done == 0 or self.state != "running":
            return None
        return self.elapsed_s / self.done * (self.plan.runs - self.done)

    def record(self, with_runs: bool = False) -> dict[str, Any]:
        """The sweep as JSON data: what the store keeps, the page polls and `--json` prints
        (with each run's full result when `with_runs`)."""
        axes = [{"kind": a.kind, "name": a.name, "values": list(a.values)} for a in self.plan.axes]
        cells: list[dict[str, Any]] = []
        for state in self.cells:
            summary = {key: spread([f[key] for f in state.figures], key in COUNTS) for key in FIGURES}
            cell: dict[str, Any] = {
                "index": state.cell.index,
                "swept": state.cell.swept,
                "settings": state.cell.settings.model_dump(mode="json"),
                "burst": state.cell.burst.model_dump(mode="json"),
                "run_ids": state.run_ids,
                "figures": state.figures,
                "summary": summary,
            }
            if with_runs:
                cell["runs"] = [r.model_dump(mode="json") for r in state.results]
            cells.append(cell)
        for index, cell in enumerate(cells):
            before = previous_on_line(axes, index)
            cell["within_noise"] = (
                {key: overlap(cells[before]["summary"][key], cell["summary"][key]) for key in FIGURES}
                # Noise needs a spread: two samples at least on each side.
                if before is not None and min(len(cells[before]["figures"]), len(cell["figures"])) > 1
                else None
            )
        return {
            "sweep": {
                "axes": axes,
                "repeat": self.plan.repeat,
                "runs_planned": self.plan.runs,
                "runs_done": self.done,
                "state": self.state,
                "error": self.error,
                "cut_short": self.cut_short,
                "elapsed_s": round(self.elapsed_s, 3),
                "settings": self.plan.settings.model_dump(mode="json"),
                "burst": self.plan.burst.model_dump(mode="json"),
            },
            "cells": cells,
        }


def describe(record: Mapping[str, Any]) -> str:
    """One line for the runs list: the axes and the state."""
    sweep = record["sweep"]
    axes = (
        " × ".join(f"{a['name']} {','.join(setting_text(v) for v in a['values'])}" for a in sweep["axes"]) or "one cell"
    )
    repeat = f", ×{sweep['repeat']}" if sweep["repeat"] > 1 else ""
    burst = sweep["burst"]
    return f"sweep {axes}{repeat}: {burst['connections']} conns {burst['pattern']}, {sweep['state']}"


TABLE_FIGURES = ("ok", "rejected_rate", "p50_ms", "p99_ms", "p99_9_ms", "ok_per_s", "peak_queue", "peak_active")
FAILURES = ("refused", "reset", "timeout")
NOISE_MARK = "≈"
MEDIAN_NOTE = "each figure's on its own (a row's figures may come from different runs)"
NOISE_NOTE = f"{NOISE_MARK}: within the noise of the row above (their min–max ranges over the repeats overlap)"


def number(key: str, value: float | None) -> str:
    """A figure as the table, the report and the plots write it."""
    if value is None:
        return "–"
    if key == "rejected_rate":
        return percent_text(value * 100)
    if key.endswith("_ms"):
        return ms_text(value)
    if key == "ok_per_s":
        return f"{value:.1f}"
    return f"{value:g}"


def table(record: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The sweep's table: the swept settings, then each figure's median, with its min–max
    over the repeats and the noise mark when the sweep was repeated."""
    repeated = record["sweep"]["repeat"] > 1
    header = [a["name"] for a in record["sweep"]["axes"]]
    header += [FIGURES[key][0] for key in TABLE_FIGURES[:2]] + ["refused/reset/timeout"]
    header += [f"{FIGURES[key][0]} ms" for key in TABLE_FIGURES[2:5]] + ["ok/s", "peak queue", "peak active"]
    rows = []
    for cell in record["cells"]:
        noise = cell.get("within_noise") or {}

        def shown(key: str, cell: Mapping[str, Any] = cell, noise: Mapping[str, Any] = noise) -> str:
            s = cell["summary"][key]
            text = number(key, s["median"])
            if repeated and s["min"] is not None and s["min"] != s["max"]:
                text += f" [{number(key, s['min'])}–{number(key, s['max'])}]"
            return text + (f" {NOISE_MARK}" if noise.get(key) else "")

        if not cell["figures"]:
            rows.append([setting_text(cell["swept"][a]) for a in header[: len(record["sweep"]["axes"])]] + ["not run"])
            continue
        row = [setting_text(cell["swept"][a["name"]]) for a in record["sweep"]["axes"]]
        row += [shown(key) for key in TABLE_FIGURES[:2]]
        row.append("/".join(number(k, cell["summary"][k]["median"]) for k in FAILURES))
        row += [shown(key) for key in TABLE_FIGURES[2:]]
        rows.append(row)
    return header, rows


def text_table(record: Mapping[str, Any]) -> str:
    header, rows = table(record)
    widths = [max(len(r[i]) if i < len(r) else 0 for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(widths[i]) for i, cell in enumerate(row)) for row in [header, *rows]]
    if record["sweep"]["repeat"] > 1:
        lines += ["", f"median [min–max] of {record['sweep']['repeat']} runs per cell, {MEDIAN_NOTE}; {NOISE_NOTE}"]
    return "\n".join(lines)


PLOT_FIGURES = ("rejected_rate", "p99_ms", "ok_per_s")


def plot_data(record: Mapping[str, Any]) -> dict[str, Any]:
    """What the plots draw: each figure's median (and min–max) against the first axis, one
    line per combination of the other axes' values. The x axis is the setting's value when
    every value is a number, else the values' positions with their labels."""
    axes = record["sweep"]["axes"]
    first = axes[0] if axes else {"name": "cell", "values": [None]}
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in first["values"])
    x = list(first["values"]) if numeric else list(range(len(first["values"])))
    lines: dict[str, list[Mapping[str, Any]]] = {}
    for cell in record["cells"]:
        rest = " ".join(f"{a['name']}={setting_text(cell['swept'][a['name']])}" for a in axes[1:])
        lines.setdefault(rest, []).append(cell)
    plotted = []
    for key in PLOT_FIGURES:
        name, unit = FIGURES[key]
        scale = 100 if key == "rejected_rate" else 1
        series = []
        for line_name, cells in lines.items():
            spreads = [c["summary"][key] if c["figures"] else spread([]) for c in cells]
            series.append(
                {
                    "name": line_name or name,
                    **{part: [_scaled(s[part], scale) for s in spreads] for part in ("median", "min", "max")},
                    # The legend's words for each median, as the table writes it.
                    "shown": [number(key, s["median"]) for s in spreads],
                }
            )
        plotted.append({"key": key, "label": name, "unit": "%" if scale == 100 else unit, "lines": series})
    return {
        "x_name": first["name"],
        "x": x,
        "x_labels": [setting_text(v) for v in first["values"]] if axes else ["one cell"],
        "x_numeric": numeric,
        "figures": plotted,
        "repeat": record["sweep"]["repeat"],
    }


def _scaled(value: float | None, scale: float) -> float | None:
    return None if value is None else round(value * scale, 4)
