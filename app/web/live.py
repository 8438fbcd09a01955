"""The WebSocket endpoint: each viewer follows the current target's stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app.frames import LATENCY_EDGES_MS, Elsewhere, ElsewhereSnapshot, Snapshot
from app.web.registry import Registry, Session

router = APIRouter()

EMPTY: Snapshot = {
    "type": "snapshot",
    "t_ms": 0,
    "target": None,
    "queue": None,
    "connections": [],
    "latency_edges_ms": list(LATENCY_EDGES_MS),
    "latency_counts": [],
    "counts": {},
    "totals": {},
    "summary": {},
}
EMPTY_SNAPSHOT = json.dumps(EMPTY)


@router.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    """Frames go out from their own task; this one only listens, so a viewer that leaves,
    or a server shutting down (uvicorn closes its WebSockets), ends both at once.
    `?target=ID` follows that target's stream (a comparison's side) instead of the current one."""
    registry: Registry = websocket.app.state.registry
    await websocket.accept()
    if registry.viewers >= registry.limits.viewers:
        # Every viewer is sent every frame from the loop the bursts run on: past the cap,
        # a viewer is told to come back (1013: try again later) rather than served.
        await websocket.close(code=1013, reason=registry.limits.refuse("viewers", registry.viewers + 1).message)
        return
    registry.viewers += 1
    try:
        await _serve(websocket, registry)
    finally:
        registry.viewers -= 1


async def _serve(websocket: WebSocket, registry: Registry) -> None:
    wanted = websocket.query_params.get("target", "")
    if wanted:
        session = (
            registry.sessions.get(int(wanted)) if wanted.isascii() and wanted.isdigit() and len(wanted) < 12 else None
        )
        sender = asyncio.create_task(_send_one(websocket, registry, session))
    else:
        sender = asyncio.create_task(_send_frames(websocket, registry))
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await sender


async def _send_frames(websocket: WebSocket, registry: Registry) -> None:
    while True:
        session = registry.current
        if session is None:
            await websocket.send_text(_empty(registry))
            async with registry.changed:
                await registry.changed.wait()
            continue
        viewer = session.stream.join()
        try:
            await _follow(websocket, registry, viewer.queue)
        finally:
            session.stream.leave(viewer)


def _empty(registry: Registry) -> str:
    """The view with no target. While a comparison or a sweep has the dashboard instead, it
    says where that is watched: an audience following `/` would otherwise wait on an empty
    view through the whole comparison."""
    elsewhere: Elsewhere
    if registry.comparison is not None:
        # It stays the registry's until something replaces it, ended or not.
        running = registry.comparison.state in ("starting", "running")
        elsewhere = {"what": "comparison", "href": "/compare", "running": running}
    elif registry.sweep is not None and registry.sweep_running:
        elsewhere = {"what": "sweep", "href": f"/sweeps/{registry.sweep.id}", "running": True}
    else:
        return EMPTY_SNAPSHOT
    snapshot: ElsewhereSnapshot = {**EMPTY, "elsewhere": elsewhere}
    return json.dumps(snapshot)


async def _send_one(websocket: WebSocket, registry: Registry, session: Session | None) -> None:
    """One target's frames for as long as the viewer stays; an unknown target is an empty view."""
    if session is None:
        await websocket.send_text(EMPTY_SNAPSHOT)
        return
    viewer = session.stream.join()
    try:
        await _follow(websocket, registry, viewer.queue, lambda: registry.sessions.get(session.id) is not session)
    finally:
        session.stream.leave(viewer)


async def _follow(
    websocket: WebSocket, registry: Registry, queue: asyncio.Queue[str], moved: Callable[[], bool] | None = None
) -> None:
    """Sends the stream's frames until the registry switches to another target (or `moved`).
    The frames go out from one task raced once against the switch, not a task and a wait per
    frame: with 50 viewers at 30 frames a second that was 1,500 of each a second on the loop
    the generator shares."""
    current = registry.current
    if moved is None:

        def moved() -> bool:
            return registry.current is not current

    async def switched() -> None:
        async with registry.changed:
            await registry.changed.wait_for(moved)

    async def send_frames() -> None:
        while True:
            await websocket.send_text(await queue.get())

    switch = asyncio.create_task(switched())
    sending = asyncio.create_task(send_frames())
    try:
        await asyncio.wait({sending, switch}, return_when=asyncio.FIRST_COMPLETED)
        if sending.done():
            # The viewer is gone (or a send failed): the reason surfaces here.
            sending.result()
    finally:
        # Both are awaited to their end: a task left pending here (the viewer gone, the
        # server shutting down) would be destroyed pending when the loop closes.
        for task in (sending, switch):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
