"""The JSON API (documented at /docs): the same targets, bursts and results as the page.
Every route declares its response model, so `/openapi.json` describes every answer."""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app import report
from app.comparison import ComparisonRecord, burst_diff, diff_table, finding, settings_diff, settings_table
from app.errors import TargetError
from app.export import FORMATS, comparison_html
from app.result import RunResult, connection
from app.sandbox.settings import TargetSettings
from app.store import ComparisonStore
from app.traffic.spec import BurstSpec
from app.web.models import (
    BurstAccepted,
    BurstProgress,
    BurstRun,
    CompareRequest,
    ComparisonListing,
    ComparisonReport,
    ComparisonView,
    ConnectionNow,
    Deleted,
    RunListing,
    StartRefused,
    TargetView,
)
from app.web.registry import Session, registry_of
from app.web.reports import Busy, busy_response, heavy_read, report_queue

router = APIRouter(prefix="/api")


def _json(model: BaseModel) -> Response:
    """A model already built and checked, sent as it is: FastAPI would validate a run of
    thousands of connections once more on every GET."""
    return Response(model.model_dump_json(), media_type="application/json")


def _session(request: Request, target_id: int) -> Session:
    session = registry_of(request).sessions.get(target_id)
    if session is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no target {target_id}")
    return session


@router.get("/targets", response_model=list[TargetView])
async def list_targets(request: Request) -> list[TargetView]:
    return [s.view() for s in registry_of(request).sessions.values()]


# What Swagger UI's "Try it out" fills the bodies with: requests that run as they stand.
# Without them it built a body from the schema, which the API refused (a handler mix of
# "string", a seed past 2**63 once the browser rounded it) or which started a server that
# exits after one request.
TARGET_EXAMPLES: dict[str, Any] = {
    "limit": {
        "summary": "uvicorn with a concurrency limit, a 500 ms async handler",
        "value": {"limit_concurrency": 5, "handler": "async", "handler_ms": 500},
    },
    "blocking": {
        "summary": "a handler that blocks the event loop, a short backlog",
        "value": {"handler": "blocking", "handler_ms": 300, "backlog": 16},
    },
}
BURST_EXAMPLES: dict[str, Any] = {
    "at once": {"summary": "20 connections at once", "value": {"connections": 20, "pattern": "burst"}},
    "rate": {
        "summary": "50 connections, 20 new ones a second",
        "value": {"connections": 50, "pattern": "rate", "rate": 20},
    },
}
COMPARISON_EXAMPLES: dict[str, Any] = {
    "limit": {
        "summary": "limit_concurrency 3 against 10, one burst at each",
        "value": {
            "a": {"limit_concurrency": 3, "handler_ms": 800},
            "b": {"limit_concurrency": 10, "handler_ms": 800},
            "burst": {"connections": 8, "pattern": "rate", "rate": 10},
        },
    },
}


@router.post(
    "/targets",
    status_code=status.HTTP_201_CREATED,
    response_model=TargetView,
    responses={
        409: {
            "model": StartRefused,
            "description": "The target could not start: `detail` says why, `target` is its status.",
        },
        422: {"description": "Invalid settings, or settings over a cap (`--max-…` raises it)."},
    },
)
async def create_target(
    request: Request, settings: Annotated[TargetSettings, Body(openapi_examples=TARGET_EXAMPLES)]
) -> TargetView | JSONResponse:
    """Starts a target (replacing the current one) and returns its status once it is ready.
    A target that failed to start answers 409 with its reason and output tail."""
    try:
        session = await registry_of(request).start(settings)
    except TargetError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    # Taken once: `ready` here means ready and not being stopped at this moment.
    now = session.view()
    if now.state != "ready":
        reason = session.error or f"target {session.id} is {now.state}"
        refused = StartRefused(detail=reason, target=now)
        return JSONResponse(refused.model_dump(mode="json"), status_code=status.HTTP_409_CONFLICT)
    return now


@router.get("/targets/{target_id}", response_model=TargetView)
async def get_target(request: Request, target_id: int) -> TargetView:
    return _session(request, target_id).view()


@router.delete("/targets/{target_id}", response_model=TargetView)
async def stop_target(request: Request, target_id: int) -> TargetView:
    session = _session(request, target_id)
    await registry_of(request).stop(session)
    return session.view()


@router.post(
    "/targets/{target_id}/bursts",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BurstAccepted,
    responses={
        409: {"description": "The target is not ready."},
        422: {"description": "An invalid burst, or one over a cap (`--max-…` raises it)."},
    },
)
async def fire_burst(
    request: Request, target_id: int, spec: Annotated[BurstSpec, Body(openapi_examples=BURST_EXAMPLES)]
) -> BurstAccepted:
    session = _session(request, target_id)
    if not session.ready:
        raise HTTPException(status.HTTP_409_CONFLICT, f"target {target_id} is {session.state}, not ready")
    burst = registry_of(request).fire(session, spec)
    return BurstAccepted(
        id=burst.id, connections=spec.connections, result=f"/api/targets/{target_id}/bursts/{burst.id}"
    )


@router.get("/targets/{target_id}/bursts/{burst_id}", response_model=BurstRun | BurstProgress)
async def burst_result(request: Request, target_id: int, burst_id: int) -> Response:
    """While the burst runs: its progress. Once done: its status with the run's result, as
    recorded (the `connscope run --json` result)."""
    session = _session(request, target_id)
    burst = session.burst(burst_id)
    if burst is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no burst {burst_id} on target {target_id}")
    progress = session.progress(burst)
    if not progress.done:
        return _json(progress)
    result = session.unrecorded.get(burst_id) if progress.run_id is None else await _run(request, progress.run_id)
    if result is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"burst {burst_id} has no result")
    # The nested models are taken as they are, not checked again.
    return _json(BurstRun(**(dict(result) | dict(progress))))


@router.get("/targets/{target_id}/connections/{connection_id}", response_model=ConnectionNow)
async def get_connection(request: Request, target_id: int, connection_id: int) -> ConnectionNow:
    """One connection by the id the live stream and the result give it, times from the start
    of its burst as in the burst's result."""
    session = _session(request, target_id)
    record = session.experiment.timeline.record(connection_id)
    burst = session.burst(record.burst) if record is not None else None
    if record is None or burst is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no connection {connection_id}")
    now_ms = round((time.monotonic_ns() - burst.started_ns) / 1e6, 3)
    origin_ms = round((burst.started_ns - session.experiment.origin_ns) / 1e6, 3)
    shown = connection(record, record.states(), burst.started_ns)
    return ConnectionNow(**dict(shown), now_ms=now_ms, origin_ms=origin_ms)


@router.get("/runs", response_model=list[RunListing])
async def list_runs(request: Request) -> list[RunListing]:
    """Recorded runs, newest first, with their workers, arrival pattern and rate."""
    store = registry_of(request).store
    runs = await asyncio.to_thread(store.list)
    details = await asyncio.to_thread(store.details, tuple(run.id for run in runs))
    return [RunListing(**asdict(run), **(asdict(details[run.id]) if run.id in details else {})) for run in runs]


@router.delete("/runs/{run_id}", response_model=Deleted)
async def delete_run(request: Request, run_id: int) -> Deleted:
    """Deletes a recorded run; 404 when there is no such run."""
    if not await asyncio.to_thread(registry_of(request).store.delete, run_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id}")
    return Deleted(deleted=run_id)


@router.get("/runs/{run_id}", response_model=RunResult, dependencies=[Depends(heavy_read)])
async def get_run(request: Request, run_id: int) -> Response:
    """A recorded run in the `connscope run --json` format."""
    return _json(await _run(request, run_id))


EXPORT_MEDIA = {"json": "application/json", "csv": "text/csv", "html": "text/html"}


@router.get(
    "/runs/{run_id}/export",
    response_class=Response,
    dependencies=[Depends(heavy_read)],
    responses={
        200: {
            "description": "The run as a file to download.",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/RunResult"}},
                "text/csv": {
                    "schema": {"type": "string", "description": "A row per request; the settings as # lines."}
                },
                "text/html": {"schema": {"type": "string", "description": "A self-contained replay page."}},
            },
        }
    },
)
async def export_run(request: Request, run_id: int, format: Literal["json", "csv", "html"] = "json") -> Response:
    """The run as a download: JSON, CSV (a row per request) or self-contained HTML replay."""
    result = await _run(request, run_id)
    return Response(
        FORMATS[format](result),
        media_type=EXPORT_MEDIA[format],
        headers={"content-disposition": f'attachment; filename="connscope-run-{run_id}.{format}"'},
    )


async def _run(request: Request, run_id: int) -> RunResult:
    result = await asyncio.to_thread(registry_of(request).store.get, run_id)
    if result is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id}")
    return result


def comparison_report(record: ComparisonRecord) -> ComparisonReport:
    """The settings diff, the table and the finding of two runs."""
    a, b = record.a, record.b
    assert a.run_id is not None and b.run_id is not None
    return ComparisonReport(
        id=record.id,
        recorded_at=record.recorded_at,
        mode=record.mode,
        mode_label=record.mode_label,
        run_a=a.run_id,
        run_b=b.run_id,
        settings=settings_table(a.settings, b.settings),
        settings_diff=settings_diff(a.settings, b.settings),
        burst_diff=burst_diff(a.burst, b.burst),
        diff=diff_table(a, b),
        finding=finding(a, b),
    )


@router.post(
    "/comparisons",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ComparisonView,
    responses={
        409: {"description": "A target could not start: `detail` says which and why."},
        422: {"description": "Invalid settings or burst, or over a cap (a comparison counts as two target starts)."},
    },
)
async def create_comparison(
    request: Request, body: Annotated[CompareRequest, Body(openapi_examples=COMPARISON_EXAMPLES)]
) -> ComparisonView:
    """Replaces the live target with two, A and B, and fires the same burst (the same arrival
    schedule) at each: one after the other, or at the same time with `concurrent`. Answers
    once both are up; poll `GET /api/comparisons/live/{id}` until `state` is `done`."""
    comparison = await registry_of(request).compare(body.a, body.b, body.burst, body.concurrent)
    view = comparison.view()
    if view.state == "failed":
        raise HTTPException(status.HTTP_409_CONFLICT, view.error or "a target could not start")
    return view


@router.get("/comparisons/live/{comparison_id}", response_model=ComparisonView)
async def get_live_comparison(request: Request, comparison_id: int) -> ComparisonView:
    comparison = registry_of(request).comparisons.get(comparison_id)
    if comparison is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no live comparison {comparison_id}")
    return comparison.view()


@router.get("/comparisons", response_model=list[ComparisonListing])
async def list_comparisons(request: Request) -> list[ComparisonListing]:
    """Recorded comparisons, newest first."""
    listed = await asyncio.to_thread(ComparisonStore(registry_of(request).store).list)
    return [ComparisonListing(**asdict(c)) for c in listed]


@router.get("/comparisons/{comparison_id}", response_model=ComparisonReport)
async def get_comparison(request: Request, comparison_id: int) -> ComparisonReport:
    """A recorded comparison: its runs' settings diff, the table, the finding."""
    return comparison_report(await recorded_comparison(request, comparison_id))


@router.get(
    "/comparisons/{comparison_id}/export",
    response_class=Response,
    dependencies=[Depends(heavy_read)],
    responses={
        200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "Both replays, offline."}
    },
)
async def export_comparison(request: Request, comparison_id: int) -> Response:
    """The comparison as one self-contained HTML file replaying both sides in lockstep."""
    record = await recorded_comparison(request, comparison_id)
    html = comparison_html(record, comparison_report(record).model_dump(mode="json"))
    return Response(
        html,
        media_type="text/html",
        headers={"content-disposition": f'attachment; filename="connscope-comparison-{comparison_id}.html"'},
    )


@router.get(
    "/comparisons/{comparison_id}/report",
    response_class=Response,
    responses={
        200: {
            "description": "The rollout report as Markdown, the JSON behind it, or both with its plot in a zip.",
            "content": {
                "text/markdown": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
                "application/zip": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def comparison_report_file(
    request: Request, comparison_id: int, format: Literal["md", "json", "zip"] = "md"
) -> Response:
    """The comparison's report (app/report/compare.py): Markdown with the settings, the
    traffic, the table and the finding; `format=json`, the numbers it is written from;
    `format=zip`, report.md, report.png and report.json together (the Markdown's plot is
    the PNG beside it, which the Markdown alone leaves a broken link)."""
    record = await recorded_comparison(request, comparison_id)
    body: str | bytes
    try:
        async with report_queue(request).turn():
            if format == "zip":
                body = await asyncio.to_thread(report.zipped, "comparison", record)
            else:
                with tempfile.TemporaryDirectory(prefix="connscope-report-") as out:
                    path = await asyncio.to_thread(report.render, "comparison", record, Path(out) / "report.md")
                    body = (path.with_suffix(".json") if format == "json" else path).read_text()
    except Busy:
        return busy_response()
    media = {"md": "text/markdown", "json": "application/json", "zip": "application/zip"}[format]
    name = (
        f"connscope-comparison-{comparison_id}-report.zip"
        if format == "zip"
        else f"connscope-comparison-{comparison_id}.{format}"
    )
    return Response(body, media_type=media, headers={"content-disposition": f'attachment; filename="{name}"'})


@router.get("/runs/compare/{run_a}/{run_b}", response_model=ComparisonReport, dependencies=[Depends(heavy_read)])
async def compare_runs(request: Request, run_a: int, run_b: int) -> ComparisonReport:
    """Any two recorded runs side by side: settings diff, the table, the finding."""
    return comparison_report(ComparisonRecord(a=await _run(request, run_a), b=await _run(request, run_b)))


async def recorded_comparison(request: Request, comparison_id: int) -> ComparisonRecord:
    record = await asyncio.to_thread(ComparisonStore(registry_of(request).store).record, comparison_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no comparison {comparison_id} (or one of its runs is gone)")
    return record
