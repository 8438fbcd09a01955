"""The stream's promise: a slow viewer is resynced, never buffered without bound."""

from __future__ import annotations

import asyncio
import json

from app.stream import VIEWER_QUEUE_FRAMES, Stream
from app.timeline.model import ConnectionRecord
from app.timeline.timeline import Timeline


def test_slow_viewer_gets_a_snapshot_instead_of_a_growing_queue() -> None:
    async def scenario() -> None:
        timeline = Timeline()
        stream = Stream(timeline, status=lambda: {"id": 1})
        stream.start()
        slow = stream.join()
        fast = stream.join()
        received: list[dict[str, object]] = []

        async def drain() -> None:
            while True:
                received.append(json.loads(await fast.queue.get()))

        reader = asyncio.create_task(drain())
        for i in range(120):
            record = ConnectionRecord(port=10_000 + i, burst=1, index=i, intended_ns=0)
            record.connect_start_ns = record.intended_ns
            timeline.add(record)
            await asyncio.sleep(0.04)
        assert slow.queue.qsize() <= VIEWER_QUEUE_FRAMES
        # Drain what the slow viewer has: once it had fallen behind, the next frame it is
        # offered after room frees up is a full snapshot.
        while not slow.queue.empty():
            slow.queue.get_nowait()
        extra = ConnectionRecord(port=20_000, burst=1, index=120, intended_ns=0)
        extra.connect_start_ns = 0
        timeline.add(extra)
        frame = json.loads(await asyncio.wait_for(slow.queue.get(), 2))
        assert frame["type"] == "snapshot"
        assert len(frame["connections"]) == 121
        assert received[0]["type"] == "snapshot"
        assert all(f["type"] == "delta" for f in received[1:])
        assert sum(len(f["changes"]) for f in received[1:]) + len(received[0]["connections"]) >= 121
        reader.cancel()
        await stream.close()

    asyncio.run(scenario())
