"""The compare pages: two target settings and one burst fired at both (live), and two
recorded runs side by side with their replays in lockstep."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.assets import PAGE_ASSETS
from app.comparison import ComparisonRecord
from app.errors import CapExceeded, TargetError
from app.fields import field_errors, form_fields
from app.sandbox.settings import TargetSettings
from app.store import ComparisonStore
from app.traffic.spec import BurstSpec
from app.web.api import comparison_report
from app.web.errors import not_found
from app.web.forms import parse_form
from app.web.pages import BURST_FIELDS, TARGET_FIELDS, presenting, runs_context, target_fields
from app.web.pages import _render as render
from app.web.registry import Comparison, Registry, registry_of
from app.web.reports import heavy_read

router = APIRouter()
SIDES = ("a", "b")


def _form_context(
    values: dict[str, dict[str, Any]] | None = None, errors: dict[str, dict[str, str]] | None = None
) -> dict[str, Any]:
    values = values or {}
    errors = errors or {}
    target_defaults = TargetSettings().model_dump()
    return {
        # With the engines each setting is read by: a side shows its own server's only.
        "target_fields": target_fields(),
        "burst_fields": form_fields(BurstSpec, BURST_FIELDS),
        "field_names": TARGET_FIELDS,
        "values": {
            "a": {**target_defaults, **values.get("a", {})},
            "b": {**target_defaults, **values.get("b", {})},
            "burst": {**BurstSpec().model_dump(), **values.get("burst", {})},
        },
        "errors": {name: errors.get(name, {}) for name in ("a", "b", "burst", "all")},
        "concurrent": bool(values.get("concurrent")),
    }


def _shown(registry: Registry) -> Comparison | None:
    """The live comparison, or the last one (superseded, or its targets stopped)."""
    if registry.comparison is not None:
        return registry.comparison
    return registry.comparisons[max(registry.comparisons)] if registry.comparisons else None


async def _status_context(registry: Registry) -> dict[str, Any]:
    comparison = _shown(registry)
    report = None
    runs: dict[str, Any] = {}
    if comparison is not None and comparison.record_id is not None:
        record = await asyncio.to_thread(ComparisonStore(registry.store).record, comparison.record_id)
        if record is not None:
            report = comparison_report(record).model_dump(mode="json")
            runs = {
                "a": record.a.model_dump(mode="json", include={"settings", "burst"}),
                "b": record.b.model_dump(mode="json", include={"settings", "burst"}),
            }
    return {
        "comparison": comparison.view().model_dump(mode="json") if comparison else None,
        "report": report,
        **runs,
    }


@router.get("/compare", response_class=HTMLResponse)
async def compare_page(request: Request) -> HTMLResponse:
    registry = registry_of(request)
    shown = _shown(registry)
    values: dict[str, dict[str, Any]] = {}
    if shown is not None:
        # The form shows the comparison on screen, as the live page's forms show its target.
        values = {
            "a": shown.a.settings.model_dump(),
            "b": shown.b.settings.model_dump(),
            "burst": shown.spec.model_dump(),
        }
    assets = [
        {"name": a.package, "kind": a.kind, "cdn": a.cdn, "integrity": a.integrity, "local": a.local}
        for a in PAGE_ASSETS
    ]
    return render(
        request,
        "compare.html",
        assets=assets,
        offline=request.app.state.offline,
        presenter=presenting(request),
        **_form_context(values),
        **await _status_context(registry),
    )


@router.post("/compare", response_class=HTMLResponse)
async def start_comparison(request: Request) -> HTMLResponse:
    """Validates both sides and the burst; bad input comes back inline in the form (422)
    and stops nothing."""
    form = await request.form()
    values: dict[str, Any] = {}
    errors: dict[str, dict[str, str]] = {}
    models: dict[str, Any] = {}
    for name, model, names in (
        ("a", TargetSettings, TARGET_FIELDS),
        ("b", TargetSettings, TARGET_FIELDS),
        ("burst", BurstSpec, BURST_FIELDS),
    ):
        given = {key.removeprefix(f"{name}."): value for key, value in form.items() if key.startswith(f"{name}.")}
        values[name] = parse_form(model, given, names)
        try:
            models[name] = model.model_validate(values[name])
        except ValidationError as exc:
            errors[name] = field_errors(exc)
    values["concurrent"] = form.get("concurrent") is not None
    if errors:
        return render(request, "partials/compare_form.html", 422, **_form_context(values, errors))
    try:
        await registry_of(request).compare(models["a"], models["b"], models["burst"], values["concurrent"])
    except CapExceeded as exc:
        side, _, field = exc.field.partition(".")
        where = {side: {field: exc.message}} if field else {"all": {"__all__": exc.message}}
        return render(request, "partials/compare_form.html", 422, **_form_context(values, where))
    except TargetError as exc:
        return render(
            request, "partials/compare_form.html", 409, **_form_context(values, {"all": {"__all__": str(exc)}})
        )
    response = render(request, "partials/compare_form.html", **_form_context(values))
    response.headers["HX-Trigger-After-Swap"] = "connscope:compare-started"
    return response


@router.get("/partials/compare", response_class=HTMLResponse)
async def compare_status(request: Request) -> HTMLResponse:
    return render(request, "partials/compare_status.html", **await _status_context(registry_of(request)))


def _replay_page(request: Request, record: ComparisonRecord) -> HTMLResponse:
    return render(
        request,
        "compare_replay.html",
        report=comparison_report(record).model_dump(mode="json"),
        a=record.a.model_dump(mode="json"),
        b=record.b.model_dump(mode="json"),
        standalone=False,
        presenter=presenting(request),
    )


@router.get("/compare/{comparison_id}", response_class=HTMLResponse, dependencies=[Depends(heavy_read)])
async def recorded_comparison(request: Request, comparison_id: int) -> Response:
    record = await asyncio.to_thread(ComparisonStore(registry_of(request).store).record, comparison_id)
    if record is None:
        return not_found(request, f"no comparison {comparison_id} (or one of its runs is gone)")
    return _replay_page(request, record)


@router.get("/runs/compare", response_class=HTMLResponse, dependencies=[Depends(heavy_read)])
async def compare_runs(request: Request) -> Response:
    """Two runs picked on the runs page (`?run=A&run=B`) side by side."""
    picked = request.query_params.getlist("run")
    store = registry_of(request).store
    if len(picked) != 2 or not all(p.isascii() and p.isdigit() and len(p) < 19 for p in picked):
        # Said above the list where the runs were picked; the picks are kept.
        context = await runs_context(store)
        why = f"Pick exactly two runs to compare (you picked {len(picked)})."
        if len(picked) == 2:
            bad = next(p for p in picked if not (p.isascii() and p.isdigit() and len(p) < 19))
            why = f"{bad[:40]!r} is not a run id: pick two runs from the list."
        return render(request, "runs.html", 422, compare_error=why, picked=picked, **context)
    # Ticked on a list, two runs have no order of their own: the earlier is A.
    first, second = sorted(int(p) for p in picked)
    a = await asyncio.to_thread(store.get, first)
    b = await asyncio.to_thread(store.get, second)
    if a is None or b is None:
        missing = [p for p, run in zip(picked, (a, b), strict=True) if run is None]
        return not_found(request, f"no run {', '.join(missing)}")
    return _replay_page(request, ComparisonRecord(a=a, b=b))
