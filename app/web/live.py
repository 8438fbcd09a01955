"""The WebSocket endpoint: each viewer follows the current target's stream."""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app.frames import Snapshot
from app.web.registry import Registry

router = APIRouter()

EMPTY: Snapshot = {
    "type": "snapshot",
    "t_ms": 0,
    "target": None,
    "queue": None,
    "connections": [],
    "latencies": [],
    "counts": {},
    "totals": {},
    "summary": {},
}
EMPTY_SNAPSHOT = json.dumps(EMPTY)


@router.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    """Frames go out from their own task; this one only listens, so a viewer that leaves,
    or a server shutting down (uvicorn closes its WebSockets), ends both at once."""
    registry: Registry = websocket.app.state.registry
    await websocket.accept()
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
            await websocket.send_text(EMPTY_SNAPSHOT)
            async with registry.changed:
                await registry.changed.wait()
            continue
        viewer = session.stream.join()
        try:
            await _follow(websocket, registry, viewer.queue)
        finally:
            session.stream.leave(viewer)


async def _follow(websocket: WebSocket, registry: Registry, queue: asyncio.Queue[str]) -> None:
    """Sends the stream's frames until the registry switches to another target. The frames
    go out from one task raced once against the switch, not a task and a wait per frame:
    with 50 viewers at 30 frames a second that was 1,500 of each a second on the loop the
    generator shares."""
    current = registry.current

    async def switched() -> None:
        async with registry.changed:
            await registry.changed.wait_for(lambda: registry.current is not current)

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
