"""The sweep pages: a form whose fields take comma-separated lists, and a sweep's page
that fills in its table and plots while its cells run; their JSON for the page's polling."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from app.assets import PAGE_ASSETS
from app.errors import CapExceeded, ConnscopeError
from app.fields import form_fields, readable
from app.sandbox.settings import TargetSettings
from app.sweep import NOISE_NOTE, SweepValueError, plan, plot_data, table
from app.traffic.spec import BurstSpec
from app.web.errors import not_found
from app.web.pages import BURST_FIELDS, TARGET_FIELDS, _render
from app.web.registry import registry_of

MAX_REPEAT = 20
router = APIRouter()


class SweepView(BaseModel):
    """A sweep as it fills in (app/sweep.py's `Sweep.record`), with what its page shows."""

    sweep: dict[str, Any] = Field(description="Axes, base settings and burst, repeat, runs planned and done, state.")
    cells: list[dict[str, Any]] = Field(
        description="Per cell: swept values, settings, burst, run ids, each run's figures, their median and "
        "min–max (`summary`), `within_noise` against the previous cell on the first axis."
    )
    progress: dict[str, Any] = Field(description="`live` while it runs; ETA and the cell running.")
    table: dict[str, Any] = Field(description="The table's header and rows as text.")
    plot: dict[str, Any] = Field(description="What the plots draw.")


def _form_context(values: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> dict[str, Any]:
    target, burst = TargetSettings(), BurstSpec()
    defaults = {f: _shown(getattr(target, f)) for f in TARGET_FIELDS} | {
        f: _shown(getattr(burst, f)) for f in BURST_FIELDS
    }
    return {
        "target_fields": form_fields(TargetSettings, TARGET_FIELDS),
        "burst_fields": form_fields(BurstSpec, BURST_FIELDS),
        "values": defaults | {"repeat": "1"} | (values or {}),
        "errors": errors or {},
    }


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _assets() -> list[dict[str, str]]:
    """uPlot only: the sweep page has no htmx."""
    return [
        {"name": a.package, "kind": a.kind, "cdn": a.cdn, "integrity": a.integrity, "local": a.local}
        for a in PAGE_ASSETS
        if a.package == "uplot"
    ]


@router.get("/sweeps/new", response_class=HTMLResponse)
async def new_sweep(request: Request) -> HTMLResponse:
    return _render(request, "sweep_new.html", **_form_context())


@router.post("/sweeps", response_class=HTMLResponse)
async def start_sweep(request: Request) -> Response:
    """Starts a sweep from the form; a bad value is shown beside its field, and nothing
    running is touched until the whole grid is valid and within the caps."""
    registry = registry_of(request)
    form = await request.form()
    values = {name: str(form.get(name, "")).strip() for name in (*TARGET_FIELDS, *BURST_FIELDS, "repeat")}
    try:
        # Said before the grid is planned: that is work for nothing while a sweep runs.
        registry.refuse_second_sweep()
    except ConnscopeError as exc:
        return _render(request, "sweep_new.html", 409, **_form_context(values, {"__all__": str(exc)}))
    # A field left empty (or not sent) keeps its default, as the CLI's flag not given.
    lists = {
        name: [v.strip() for v in values[name].split(",")] for name in (*TARGET_FIELDS, *BURST_FIELDS) if values[name]
    }
    repeat_text = values["repeat"]
    errors: dict[str, str] = {}
    if not (repeat_text.isascii() and repeat_text.isdigit()) or not 1 <= int(repeat_text) <= MAX_REPEAT:
        errors["repeat"] = f"Enter a whole number from 1 to {MAX_REPEAT}."
    try:
        # Off the loop the live views and bursts run on: checking every value of long lists
        # takes a while.
        grid = await asyncio.to_thread(
            plan,
            {n: lists[n] for n in TARGET_FIELDS if n in lists},
            {n: lists[n] for n in BURST_FIELDS if n in lists},
            1 if errors else int(repeat_text),
            limits=registry.limits,
        )
        if errors:
            return _render(request, "sweep_new.html", 422, **_form_context(values, errors))
        job = await registry.start_sweep(grid)
    except SweepValueError as exc:
        # Every refused setting at once, each beside its field: one round trip per typo
        # is what a long form must not cost.
        for refused in (exc, *exc.also):
            where = refused.name if refused.name in values else "__all__"
            shown = f"{refused.value}: {readable(refused.error)}" if where != "__all__" else str(refused)
            errors.setdefault(where, shown)
        return _render(request, "sweep_new.html", 422, **_form_context(values, errors))
    except CapExceeded as exc:
        where = exc.field if exc.field in values else "__all__"
        errors.setdefault(where, exc.message)
        return _render(request, "sweep_new.html", 422, **_form_context(values, errors))
    except ConnscopeError as exc:
        return _render(request, "sweep_new.html", 409, **_form_context(values, {"__all__": str(exc)}))
    return RedirectResponse(f"/sweeps/{job.id}", status_code=303)


async def _record(request: Request, sweep_id: int) -> dict[str, Any] | None:
    registry = registry_of(request)
    job = registry.sweep
    if job is not None and job.id == sweep_id:
        return job.record()
    return await asyncio.to_thread(registry.store.get_sweep, sweep_id)


def _view(request: Request, record: dict[str, Any]) -> dict[str, Any]:
    """The record with what the page shows: progress, the table's strings, the plot's data."""
    registry = registry_of(request)
    job = registry.sweep
    live = job is not None and job.id == record["sweep"]["id"] and registry.sweep_running
    header, rows = table(record)
    progress: dict[str, Any] = {"live": live, "eta_s": None, "current": None}
    if live and job is not None:
        eta = job.sweep.eta_s
        cell = job.sweep.current_cell
        burst = job.sweep.current
        progress |= {
            "eta_s": None if eta is None else round(eta, 1),
            "current": None if cell is None else {"index": cell.index, "swept": cell.swept},
            "connections": None if burst is None else [burst.finished_connections, burst.spec.connections],
        }
    return record | {
        "progress": progress,
        "table": {"header": header, "rows": rows, "note": NOISE_NOTE if record["sweep"]["repeat"] > 1 else None},
        "plot": plot_data(record),
    }


@router.get("/sweeps/{sweep_id}", response_class=HTMLResponse)
async def sweep_page(request: Request, sweep_id: int) -> Response:
    record = await _record(request, sweep_id)
    if record is None:
        return not_found(request, f"no sweep {sweep_id}")
    return _render(
        request, "sweep.html", view=_view(request, record), assets=_assets(), offline=request.app.state.offline
    )


@router.get("/api/sweeps/{sweep_id}", response_model=SweepView, responses={404: {"description": "No such sweep."}})
async def sweep_json(request: Request, sweep_id: int) -> Response:
    """A sweep's record as it fills in: axes, cells with their figures and summaries, the
    ids of its recorded runs; with `progress`, the table's rows and the plot's data."""
    record = await _record(request, sweep_id)
    if record is None:
        return JSONResponse({"detail": f"no sweep {sweep_id}"}, status_code=404)
    return JSONResponse(_view(request, record))


@router.post("/sweeps/{sweep_id}/stop", response_class=HTMLResponse)
async def stop_sweep(request: Request, sweep_id: int) -> Response:
    """Stops the sweep; the run in flight is recorded as cut short."""
    registry = registry_of(request)
    if registry.sweep is not None and registry.sweep.id == sweep_id:
        await registry.stop_sweep("stopped from the dashboard")
    return RedirectResponse(f"/sweeps/{sweep_id}", status_code=303)
