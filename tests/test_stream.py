"""The stream's promise: a slow viewer is resynced, never buffered without bound."""

from __future__ import annotations

import asyncio
import json

from app.timeline.model import ConnectionRecord
from app.timeline.timeline import Timeline
from app.web.stream import Stream


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
            record = ConnectionRecord(id=timeline.next_id(), port=10_000 + i, burst=1, index=i, intended_ns=0)
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


def test_a_long_keep_alive_connection_shows_where_its_full_history_ends() -> None:
    """The stream derives a dot from a record's recent facts only; at every step of a
    keep-alive connection with many requests it must agree with the whole derivation."""
    from app.timeline.model import AppSpan, Outcome, RequestRecord, State
    from app.web.stream import record_view

    record = ConnectionRecord(id=0, port=40_000, burst=1, index=0, intended_ns=1_000)
    record.connect_start_ns, record.connected_ns, record.accepted_ns = 1_000, 1_010, 1_020
    t = 1_100
    for index in range(40):
        request = RequestRecord(index=index, start_ns=record.intended_ns if index == 0 else t)
        record.requests.append(request)
        request.sent_ns = t + 1
        assert record_view(record)[:1] == (record.states()[-1][0],)
        span = AppSpan(enter_ns=t + 5)
        record.app_spans.append(span)
        assert record_view(record)[0] is State.ACTIVE == record.states()[-1][0]
        assert record_view(record)[2] == record.states()[-1][1]
        span.leave_ns, span.status = t + 9, 200
        request.first_byte_ns, request.done_ns, request.status = t + 10, t + 11, 200
        request.outcome = Outcome.OK if index < 39 else Outcome.REJECTED
        assert record_view(record)[::2] == record.states()[-1]
        t += 20
    record.client_closed_ns = t
    state, outcome, t_ns = record_view(record)
    assert (state, t_ns) == record.states()[-1] == (State.CLOSED, t)
    assert outcome is Outcome.REJECTED
