"""The JSON API (documented at /docs): the same targets, bursts and results as the page."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.errors import TargetError
from app.export import FORMATS
from app.sandbox.settings import TargetSettings
from app.timeline.summary import connection_json
from app.traffic.spec import BurstSpec
from app.web.registry import Session, burst_status, registry_of

router = APIRouter(prefix="/api")


class BurstAccepted(BaseModel):
    id: int
    connections: int
    result: str



def _session(request: Request, target_id: int) -> Session:
    session = registry_of(request).sessions.get(target_id)
    if session is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no target {target_id}")
    return session


@router.get("/targets")
async def list_targets(request: Request) -> list[dict[str, Any]]:
    return [s.status() for s in registry_of(request).sessions.values()]


@router.post("/targets", status_code=status.HTTP_201_CREATED, responses={
    409: {"description": "The target could not start: `detail` says why, `target` is its status."},
    422: {"description": "Invalid settings, or settings over a cap (`--max-…` raises it)."},
})
async def create_target(request: Request, settings: TargetSettings) -> Any:
    """Starts a target (replacing the current one) and returns its status once it is ready.
    A target that failed to start answers 409 with its reason and output tail."""
    try:
        session = await registry_of(request).start(settings)
    except TargetError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    # Taken once: `ready` here means ready and not being stopped at this moment.
    now = session.status()
    if now["state"] != "ready":
        reason = session.error or f"target {session.id} is {now['state']}"
        return JSONResponse({"detail": reason, "target": now}, status_code=status.HTTP_409_CONFLICT)
    return now


@router.get("/targets/{target_id}")
async def get_target(request: Request, target_id: int) -> dict[str, Any]:
    return _session(request, target_id).status()


@router.delete("/targets/{target_id}")
async def stop_target(request: Request, target_id: int) -> dict[str, Any]:
    session = _session(request, target_id)
    await registry_of(request).stop(session)
    return session.status()


@router.post("/targets/{target_id}/bursts", status_code=status.HTTP_202_ACCEPTED, responses={
    409: {"description": "The target is not ready."},
    422: {"description": "An invalid burst, or one over a cap (`--max-…` raises it)."},
})
async def fire_burst(request: Request, target_id: int, spec: BurstSpec) -> BurstAccepted:
    session = _session(request, target_id)
    if not session.ready:
        raise HTTPException(status.HTTP_409_CONFLICT, f"target {target_id} is {session.status()['state']}, not ready")
    burst = registry_of(request).fire(session, spec)
    return BurstAccepted(
        id=burst.id, connections=spec.connections, result=f"/api/targets/{target_id}/bursts/{burst.id}"
    )


@router.get("/targets/{target_id}/bursts/{burst_id}")
async def burst_result(request: Request, target_id: int, burst_id: int) -> dict[str, Any]:
    """While the burst runs: its progress. Once done: the full `connscope run --json` result."""
    session = _session(request, target_id)
    burst = session.burst(burst_id)
    if burst is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no burst {burst_id} on target {target_id}")
    status_now = burst_status(burst, session.run_ids)
    if not status_now["done"]:
        return status_now
    return status_now | session.experiment.result(burst)


@router.get("/targets/{target_id}/connections/{connection_id}")
async def connection(request: Request, target_id: int, connection_id: int) -> dict[str, Any]:
    session = _session(request, target_id)
    record = session.stream.record(connection_id)
    burst = session.burst(record.burst) if record is not None else None
    if record is None or burst is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no connection {connection_id}")
    # Times from the start of the connection's burst, as in the burst's result; `now_ms` on
    # the same clock tells how long an open connection has been in its state so far.
    now_ms = round((time.monotonic_ns() - burst.started_ns) / 1e6, 3)
    return connection_json(record, burst.started_ns) | {"now_ms": now_ms}


@router.get("/runs")
async def list_runs(request: Request) -> list[dict[str, Any]]:
    """Recorded runs, newest first, with their workers, arrival pattern and rate."""
    store = registry_of(request).store
    runs = await asyncio.to_thread(store.list)
    details = await asyncio.to_thread(store.details, tuple(run.id for run in runs))
    return [asdict(run) | (asdict(details[run.id]) if run.id in details else {}) for run in runs]


@router.delete("/runs/{run_id}")
async def delete_run(request: Request, run_id: int) -> dict[str, int]:
    """Deletes a recorded run; 404 when there is no such run."""
    if not await asyncio.to_thread(registry_of(request).store.delete, run_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id}")
    return {"deleted": run_id}


@router.get("/runs/{run_id}")
async def get_run(request: Request, run_id: int) -> dict[str, Any]:
    """A recorded run in the `connscope run --json` format."""
    return await _run(request, run_id)


@router.get("/runs/{run_id}/export")
async def export_run(request: Request, run_id: int, format: Literal["json", "csv", "html"] = "json") -> Response:
    """The run as a download: JSON, CSV (a row per request) or self-contained HTML replay."""
    result = await _run(request, run_id)
    media = {"json": "application/json", "csv": "text/csv", "html": "text/html"}[format]
    return Response(
        FORMATS[format](result), media_type=media,
        headers={"content-disposition": f'attachment; filename="connscope-run-{run_id}.{format}"'},
    )


async def _run(request: Request, run_id: int) -> dict[str, Any]:
    result = await asyncio.to_thread(registry_of(request).store.get, run_id)
    if result is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id}")
    return result
