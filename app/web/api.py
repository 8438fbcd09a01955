"""The JSON API (documented at /docs): the same targets, bursts and results as the page.
Every route declares its response model, so `/openapi.json` describes every answer."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Literal

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.errors import TargetError
from app.export import FORMATS
from app.result import RunResult, connection
from app.sandbox.settings import TargetSettings
from app.traffic.spec import BurstSpec
from app.web.models import (
    BurstAccepted,
    BurstProgress,
    BurstRun,
    ConnectionNow,
    Deleted,
    RunListing,
    StartRefused,
    TargetView,
)
from app.web.registry import Session, registry_of

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
async def create_target(request: Request, settings: TargetSettings) -> TargetView | JSONResponse:
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
async def fire_burst(request: Request, target_id: int, spec: BurstSpec) -> BurstAccepted:
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


@router.get("/runs/{run_id}", response_model=RunResult)
async def get_run(request: Request, run_id: int) -> Response:
    """A recorded run in the `connscope run --json` format."""
    return _json(await _run(request, run_id))


EXPORT_MEDIA = {"json": "application/json", "csv": "text/csv", "html": "text/html"}


@router.get(
    "/runs/{run_id}/export",
    response_class=Response,
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
