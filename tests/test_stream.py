"""The stream's promise: a slow viewer is resynced, never buffered without bound."""

from __future__ import annotations

import asyncio
import json

from app.stream import Stream
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
        await asyncio.sleep(0.1)
        # It fell behind long ago: its queue was dropped, and what it reads first is a full
        # snapshot; with the deltas after it, it knows every connection.
        frames = [json.loads(await asyncio.wait_for(slow.queue.get(), 2))]
        while not slow.queue.empty():
            frames.append(json.loads(slow.queue.get_nowait()))
        assert frames[0]["type"] == "snapshot"
        assert all(f["type"] == "delta" for f in frames[1:])
        known = {row[0] for row in frames[0]["connections"]}
        known |= {row[0] for f in frames[1:] for row in f["changes"]}
        assert known == set(range(120))
        assert received[0]["type"] == "snapshot"
        assert all(f["type"] == "delta" for f in received[1:])
        fast_known = {row[0] for row in received[0]["connections"]}
        fast_known |= {row[0] for f in received[1:] for row in f["changes"]}
        assert fast_known == set(range(120)), "a viewer that keeps up gets every change"
        reader.cancel()
        await stream.close()

    asyncio.run(scenario())
