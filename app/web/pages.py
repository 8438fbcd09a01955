"""The page and its htmx partials: target panel, burst panel."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel, ValidationError

from app.assets import PAGE_ASSETS, STYLESHEETS
from app.errors import CapExceeded, TargetError
from app.fields import FormField, field_errors, form_fields
from app.report import zipped
from app.sandbox.engines import ENGINE_FIELDS, ENGINES
from app.sandbox.settings import TargetSettings
from app.scenarios import BY_ID, SCENARIOS
from app.store import ComparisonStore, RunStore
from app.timeline.histogram import PRECISION
from app.traffic.spec import BurstSpec
from app.vocabulary import VOCABULARY
from app.web.errors import missing_page, not_found, wants_page
from app.web.forms import parse_form
from app.web.registry import Session, registry_of
from app.web.reports import Busy, busy_response, heavy_read, report_queue

TARGET_FIELDS = (
    "limit_concurrency",
    "backlog",
    "timeout_keep_alive",
    "limit_max_requests",
    "workers",
    "http",
    "loop",
    "handler",
    "handler_ms",
    "latency",
    "response_bytes",
    "somaxconn",
    "tcp_abort_on_overflow",
    "tcp_syncookies",
    "server",
    "max_requests",
    "gunicorn_timeout",
    "graceful_timeout",
    "backpressure",
    "http1_keep_alive",
    "keep_alive_timeout",
    "handler_p99_ms",
    "handler_mix",
    "handler_seed",
    "app",
)
SERVER_FIELDS = ("server", *ENGINE_FIELDS)
WORKLOAD_FIELDS = (
    "handler",
    "handler_ms",
    "latency",
    "response_bytes",
    "handler_p99_ms",
    "handler_mix",
    "handler_seed",
    "app",
)
KERNEL_FIELDS = ("somaxconn", "tcp_abort_on_overflow", "tcp_syncookies")
"""The target form's fieldsets, by name: every field of TARGET_FIELDS is in one of them."""
BURST_FIELDS = (
    "connections",
    "pattern",
    "ramp_s",
    "rate",
    "requests_per_connection",
    "pause_ms",
    "client_timeout_s",
    "path",
    "rate_end",
    "seed",
    "method",
    "paths",
    "mix",
    "slow_s",
)

router = APIRouter()


def presenting(request: Request) -> bool:
    """`?present=1`: the page is rendered in presenter mode, so a projector never sees it jump."""
    return request.query_params.get("present", "").lower() in ("1", "true", "yes", "on")


def _render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    templates = request.app.state.templates
    context = {
        "vocabulary": VOCABULARY,
        "stylesheets": STYLESHEETS,
        "precision": PRECISION,
        "server_fields": SERVER_FIELDS,
        "workload_fields": WORKLOAD_FIELDS,
        "kernel_fields": KERNEL_FIELDS,
        **context,
    }
    if "target_fields" in context:
        context["target_fields"] = _listed_apps_field(context["target_fields"], list(registry_of(request).apps))
    response: HTMLResponse = templates.TemplateResponse(request, name, context, status_code=status_code)
    return response


def _listed_apps_field(fields: Sequence[FormField], apps: list[str]) -> list[FormField]:
    """The app field chooses among the apps the operator listed (never a typed import
    string); with none listed it is not shown, and the target serves the workload."""
    if not apps:
        return [f for f in fields if f.name != "app"]
    return [replace(f, kind="select", choices=tuple(apps)) if f.name == "app" else f for f in fields]


def _target_context(
    session: Session | None, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    defaults = session.settings.model_dump() if session else TargetSettings().model_dump()
    return {
        "target": session.status() if session else None,
        "target_fields": target_fields(),
        "target_values": {**defaults, **(values or {})},
        "target_errors": errors or {},
    }


@functools.cache
def target_fields() -> tuple[FormField, ...]:
    """The target form's fields: the same for every page, made once."""
    return tuple(_with_engines(form_fields(TargetSettings, TARGET_FIELDS)))


def _with_engines(fields: list[FormField]) -> list[FormField]:
    """Each engine setting's hint names the engines that take it (the others refuse a value),
    and the field carries their names for the script that shows the chosen server's only."""
    takes = {
        name: [e for e in ENGINES.values() if name in e.settings_fields]
        for e in ENGINES.values()
        for name in e.settings_fields
    }
    return [
        replace(
            f,
            hint=f"{f.hint} [{', '.join(e.title for e in takes[f.name])}]",
            engines=tuple(e.name for e in takes[f.name]),
        )
        if f.name in takes and len(takes[f.name]) < len(ENGINES)
        else f
        for f in fields
    ]


def _others_left_empty(values: dict[str, Any]) -> dict[str, Any]:
    """`values` without another engine's settings left empty: they take their defaults, as
    when the form hides them and so does not send them. A value typed for one is kept, for
    the engine's refusal to name it."""
    engine = ENGINES.get(str(values.get("server") or TargetSettings.model_fields["server"].default))
    if engine is None:
        return values
    return {
        name: value
        for name, value in values.items()
        if not (name in ENGINE_FIELDS and name not in engine.settings_fields and value in ("", None))
    }


def _burst_context(
    session: Session | None, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "target": session.status() if session else None,
        "burst_fields": form_fields(BurstSpec, BURST_FIELDS),
        "burst_values": {**BurstSpec().model_dump(), **(values or {})},
        "burst_errors": errors or {},
        "running": bool(session and session.running),
    }


@router.head("/", response_class=HTMLResponse, include_in_schema=False)
@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    session = registry_of(request).current
    offline: bool = request.app.state.offline
    assets = [
        {"name": a.package, "kind": a.kind, "cdn": a.cdn, "integrity": a.integrity, "local": a.local}
        for a in PAGE_ASSETS
    ]
    query = request.query_params
    # A share link fills the forms (never starts anything); its bad values show as inline errors.
    shared_target = shared_form(query, "t.", TargetSettings, TARGET_FIELDS)
    shared_burst = shared_form(query, "b.", BurstSpec, BURST_FIELDS)
    target = _target_context(session, *shared_target) if shared_target else _target_context(session)
    # Without a link the burst form shows the last burst fired, as the target form its target.
    burst = _burst_context(session, *shared_burst) if shared_burst else _burst_context(session, _last_burst(session))
    shared = None
    if shared_target or shared_burst:
        shared = {"errors": len((shared_target or ({}, {}))[1]) + len((shared_burst or ({}, {}))[1])}
    context = target | burst | _scenario_context(session)
    return _render(
        request,
        "index.html",
        assets=assets,
        offline=offline,
        shared=shared,
        audience_qr=request.app.state.audience_qr,
        presenter=presenting(request),
        share_fields={"target": TARGET_FIELDS, "burst": BURST_FIELDS},
        **context,
    )


def shared_form(
    query: Mapping[str, str], prefix: str, model: type[BaseModel], names: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, str]] | None:
    """A share link's values for one form, from the query parameters `<prefix><field>`:
    (values over the model's own defaults, inline errors), or None when it carries none.
    The model's defaults, not the running target's, so the link restores its experiment."""
    given = {key.removeprefix(prefix): value for key, value in query.items() if key.startswith(prefix)}
    present = tuple(name for name in names if name in given)
    if not present:
        return None
    values = parse_form(model, given, present)
    if model is TargetSettings:
        values = _others_left_empty(values)
    errors: dict[str, str] = {}
    try:
        model.model_validate(values)
    except ValidationError as exc:
        errors = field_errors(exc)
    return {**model().model_dump(include=set(names)), **values}, errors


@router.post("/targets", response_class=HTMLResponse)
async def start_target(request: Request) -> HTMLResponse:
    registry = registry_of(request)
    values = _others_left_empty(parse_form(TargetSettings, await request.form(), TARGET_FIELDS))
    try:
        settings = TargetSettings.model_validate(values)
    except ValidationError as exc:
        # The running target is left alone: a typo must not cost anyone their experiment.
        return _render(
            request, "partials/target_panel.html", 422, **_target_context(registry.current, values, field_errors(exc))
        )
    return await _start_panel(request, settings, values)


async def _start_panel(request: Request, settings: TargetSettings, values: dict[str, Any] | None) -> HTMLResponse:
    """Starts a target and answers with the target panel; a refusal is shown in the panel."""
    registry = registry_of(request)
    try:
        session = await registry.start(settings)
    except CapExceeded as exc:
        # The app field is shown only when apps are listed; otherwise the panel says it.
        shown = exc.field in TARGET_FIELDS and (exc.field != "app" or bool(registry.apps))
        where = exc.field if shown else "__all__"
        return _render(
            request,
            "partials/target_panel.html",
            422,
            **_target_context(registry.current, values, {where: exc.message}),
        )
    except TargetError as exc:
        return _render(
            request,
            "partials/target_panel.html",
            409,
            **_target_context(registry.current, values, {"__all__": str(exc)}),
        )
    return _render(request, "partials/target_panel.html", **_target_context(session))


@router.post("/targets/current/stop", response_class=HTMLResponse)
async def stop_target(request: Request) -> HTMLResponse:
    registry = registry_of(request)
    if registry.current is not None:
        await registry.stop(registry.current)
    return _render(request, "partials/target_panel.html", **_target_context(registry.current))


@router.post("/targets/current/restart", response_class=HTMLResponse)
async def restart_target(request: Request) -> HTMLResponse:
    registry = registry_of(request)
    settings = registry.current.settings if registry.current else TargetSettings()
    return await _start_panel(request, settings, None)


@router.get("/partials/target", response_class=HTMLResponse)
async def target_panel(request: Request) -> HTMLResponse:
    return _render(request, "partials/target_panel.html", **_target_context(registry_of(request).current))


@router.post("/bursts", response_class=HTMLResponse)
async def fire_burst(request: Request) -> HTMLResponse:
    registry = registry_of(request)
    session = registry.current
    values = parse_form(BurstSpec, await request.form(), BURST_FIELDS)
    try:
        spec = BurstSpec.model_validate(values)
    except ValidationError as exc:
        return _render(request, "partials/burst_panel.html", 422, **_burst_context(session, values, field_errors(exc)))
    if session is None or not session.ready:
        if session is None:
            why = "Start a target first: there is nothing to fire at."
        else:
            why = f"The target is {session.state}: press Restart or Start target, then Fire."
        errors = {"__all__": why}
        return _render(request, "partials/burst_panel.html", 409, **_burst_context(session, values, errors))
    try:
        registry.fire(session, spec)
    except CapExceeded as exc:
        where = exc.field if exc.field in BURST_FIELDS else "__all__"
        context = _burst_context(session, values, {where: exc.message})
        return _render(request, "partials/burst_panel.html", 422, **context)
    response = _render(request, "partials/burst_panel.html", **_burst_context(session, values))
    # A scenario's finding on the page must say which burst it describes.
    response.headers["HX-Trigger-After-Swap"] = "connscope:burst-fired"
    return response


@router.post("/scenarios/{scenario_id}", response_class=HTMLResponse)
async def run_scenario(request: Request, scenario_id: str) -> Response:
    """Loads a scenario's settings into a fresh target and fires its burst."""
    scenario = BY_ID.get(scenario_id)
    if scenario is None:
        # Plain text: the id is the requester's own input and must never become markup.
        return PlainTextResponse(f"no scenario {scenario_id[:80]}", status_code=404)
    registry = registry_of(request)
    try:
        session = await registry.start(scenario.settings, scenario)
        if session.ready:
            registry.fire(session, scenario.burst, scenario)
    except (CapExceeded, TargetError) as exc:
        context = _scenario_context(registry.current) | {"scenario_error": str(exc)}
        return _render(request, "partials/scenario_panel.html", 422 if isinstance(exc, CapExceeded) else 409, **context)
    response = _render(request, "partials/scenario_panel.html", **_scenario_context(session))
    # Every panel shows the scenario, its settings and burst once it is loaded. After the
    # swap, and from the body when this panel was replaced while the request ran (it polls
    # while a scenario runs), so a scenario chosen mid-run is never shown as the old one.
    response.headers["HX-Trigger-After-Swap"] = "connscope:reload-panels"
    return response


def _scenario_context(session: Session | None) -> dict[str, Any]:
    scenario = session.scenario if session else None
    finding = None
    cut_short = False
    later: list[int] = []
    if session is not None and scenario is not None:
        bursts = session.experiment.bursts
        # The scenario's own burst is the first on its target; any later one was fired by
        # hand with the forms' settings, and the finding does not describe it.
        finding = session.findings.get(bursts[0].id) if bursts and bursts[0].id in session.run_ids else None
        cut_short = bool(bursts) and bursts[0].cancelled is not None
        later = [b.id for b in bursts[1:]]
    return {
        "scenarios": SCENARIOS,
        "scenario": scenario,
        "finding": finding,
        "finding_cut_short": cut_short,
        "later_bursts": later,
        "interrupted": session.interrupted if session else None,
        "scenario_running": bool(session and (session.running or _scenario_pending(session))),
        "scenario_error": None,
    }


def _scenario_pending(session: Session) -> bool:
    """A scenario whose burst is still to come: its target starting (the first, or a
    two-target scenario's second), or between a two-target scenario's halves. The panel
    keeps following it until the finding is written."""
    scenario = session.scenario
    if scenario is None or session.error is not None:
        return False
    bursts = session.experiment.bursts
    if not bursts:
        return session.state in ("starting", "ready")
    first = bursts[0]
    return (
        scenario.versus is not None
        and session.versus_of is None
        and first.cancelled is None
        and first.id in session.run_ids
    )


@router.get("/partials/scenario", response_class=HTMLResponse)
async def scenario_panel(request: Request) -> HTMLResponse:
    return _render(request, "partials/scenario_panel.html", **_scenario_context(registry_of(request).current))


def _last_burst(session: Session | None) -> dict[str, Any] | None:
    return session.experiment.bursts[-1].spec.model_dump() if session and session.experiment.bursts else None


@router.get("/partials/burst-panel", response_class=HTMLResponse)
async def burst_form_panel(request: Request) -> HTMLResponse:
    session = registry_of(request).current
    return _render(request, "partials/burst_panel.html", **_burst_context(session, _last_burst(session)))


async def runs_context(store: RunStore) -> dict[str, Any]:
    """The runs list: runs with their details, recorded sweeps and comparisons, and which
    sweep or comparison (and side) each run belongs to, for the kind column."""
    listed = await asyncio.to_thread(store.list)
    details = await asyncio.to_thread(store.details, tuple(run.id for run in listed))
    sweeps = await asyncio.to_thread(store.list_sweeps)
    comparisons = ComparisonStore(store)
    return {
        "runs": listed,
        "details": details,
        "sweeps": sweeps,
        # Each run of a sweep names its sweep in the kind column.
        "sweep_of": {run_id: sweep.id for sweep in sweeps for run_id in sweep.run_ids},
        "comparisons": await asyncio.to_thread(comparisons.list),
        "compared": await asyncio.to_thread(comparisons.of_runs),
    }


@router.get("/runs", response_class=HTMLResponse)
async def runs(request: Request) -> HTMLResponse:
    return _render(request, "runs.html", **await runs_context(registry_of(request).store))


@router.get("/runs/{run_id}", response_class=HTMLResponse, dependencies=[Depends(heavy_read)])
async def replay(request: Request, run_id: int) -> Response:
    result = await asyncio.to_thread(registry_of(request).store.get, run_id)
    if result is None:
        return not_found(request, f"no run {run_id}")
    return _render(
        request,
        "replay.html",
        run=result.model_dump(mode="json"),
        standalone=False,
        presenter=presenting(request),
    )


@router.get("/runs/{run_id}/report", response_class=Response)
async def run_report(request: Request, run_id: int) -> Response:
    """The run's report as `connscope report` writes it: report.md, report.png and report.json
    in one zip. A zip rather than Markdown with the plot inlined as a data: URI, because
    tickets and wikis drop data: images, and the JSON behind the finding must travel with it."""
    try:
        async with report_queue(request).turn():
            result = await asyncio.to_thread(registry_of(request).store.get, run_id)
            if result is None:
                # A download link: its 404 is text, but a page to a browser that followed it.
                if wants_page(request):
                    return missing_page(request, f"no run {run_id}")
                return PlainTextResponse(f"no run {run_id}", status_code=404)
            archive = await asyncio.to_thread(zipped, "run", result)
    except Busy:
        return busy_response()
    return Response(
        archive,
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="connscope-run-{run_id}-report.zip"'},
    )


@router.get("/partials/bursts", response_class=HTMLResponse)
async def burst_panel(request: Request) -> Response:
    session = registry_of(request).current
    return _render(request, "partials/burst_progress.html", **_burst_context(session))
