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
        span.leave_ns = t + 9
        request.first_byte_ns, request.done_ns, request.status = t + 10, t + 11, 200
        request.outcome = Outcome.OK if index < 39 else Outcome.REJECTED
        assert record_view(record)[::2] == record.states()[-1]
        t += 20
    record.client_closed_ns = t
    state, outcome, t_ns = record_view(record)
    assert (state, t_ns) == record.states()[-1] == (State.CLOSED, t)
    assert outcome is Outcome.REJECTED


def _exact(timeline: Timeline) -> dict[str, object]:
    """The figures as a run's result computes them: every record derived afresh."""
    from app.timeline import summary

    records = timeline.records
    return {
        "latency_ms": summary.latency_ms(records),
        "connect_ms": summary.connect_ms(records),
        "peaks": summary.peaks(r.states() for r in records),
    }


def test_the_live_summary_folds_settled_records_once_and_equals_the_results_figures(monkeypatch: object) -> None:
    """Keep-alive bursts one after another, the summary walked between every step: each walk
    gives exactly the figures a result derives from all records, and a settled record is
    derived once more (its server's close report) and then never again."""
    import random
    import time

    from app.timeline.model import Outcome, RequestRecord
    from app.witness_protocol import ServerEvent

    derived: list[int] = []
    states = ConnectionRecord.states
    monkeypatch.setattr(ConnectionRecord, "states", lambda self: derived.append(self.id) or states(self))  # type: ignore[attr-defined]
    rng = random.Random(10)
    timeline = Timeline()
    stream = Stream(timeline, status=lambda: {"id": 1})
    pid = 4242

    def clock() -> int:
        # Stamps from the clock the walk reads, as every witness's are.
        time.sleep(0.0002)
        return time.monotonic_ns()

    for burst in range(3):
        records = []
        for index in range(8):
            record = ConnectionRecord(
                id=timeline.next_id(), port=30_000 + 10 * burst + index, burst=burst, index=index, intended_ns=clock()
            )
            timeline.add(record)
            record.connect_start_ns = clock()
            records.append(record)
        for step in range(60):
            record = rng.choice(records)
            if record.client_closed_ns is not None:
                continue
            if record.connected_ns is None:
                record.connected_ns = clock()
            elif record.taken_ns is None:
                timeline.server_event(ServerEvent("taken", pid, record.port, clock()))
                timeline.server_event(ServerEvent("accepted", pid, record.port, clock()))
            elif not record.requests or record.requests[-1].outcome is not None:
                if len(record.requests) == 4:
                    record.client_closed_ns = clock()
                else:
                    record.requests.append(RequestRecord(index=len(record.requests), start_ns=clock()))
            elif not record.app_spans or record.app_spans[-1].leave_ns is not None:
                if len(record.app_spans) < len(record.requests):
                    timeline.server_event(ServerEvent("enter", pid, record.port, clock()))
                else:
                    request = record.requests[-1]
                    request.first_byte_ns = request.done_ns = clock()
                    request.status = rng.choice([200, 200, 503])
                    request.outcome = Outcome.OK if request.status == 200 else Outcome.ERROR
            else:
                timeline.server_event(ServerEvent("leave", pid, record.port, clock()))
            timeline.changed(record)
            assert stream._walk() == _exact(timeline), (burst, step)
        for record in records:
            if record.client_closed_ns is None:
                record.client_closed_ns = clock()
                timeline.changed(record)
            timeline.server_event(ServerEvent("closed", pid, record.port, clock()))
        assert stream._walk() == _exact(timeline)

    # Every record is settled: a walk with nothing new derives nothing.
    derived.clear()
    walked = stream._walk()
    assert derived == []
    assert walked == _exact(timeline)


def test_late_evidence_about_a_settled_record_is_folded_again() -> None:
    """Two settled connections queued at once (peak 2) until a late report shows the first
    was taken from the queue before the second arrived: the live peak drops to 1, as the
    result's would."""
    import time

    ms = 1_000_000
    t0 = time.monotonic_ns() - 1000 * ms
    timeline = Timeline()
    stream = Stream(timeline, status=lambda: {"id": 1})
    first, second = (ConnectionRecord(id=i, port=40_000 + i, burst=1, index=i, intended_ns=t0) for i in range(2))
    for record, connected, accepted in ((first, 1, 20), (second, 10, 12)):
        record.connect_start_ns, record.connected_ns = t0, t0 + connected * ms
        record.accepted_ns, record.client_closed_ns, record.server_closed_ns = (
            t0 + accepted * ms,
            t0 + 30 * ms,
            t0 + 31 * ms,
        )
        timeline.add(record)
    assert stream._walk()["peaks"]["queued"] == 2 == _exact(timeline)["peaks"]["queued"]
    first.taken_ns = t0 + 5 * ms
    timeline.changed(first)
    assert stream._walk() == _exact(timeline)
    assert _exact(timeline)["peaks"]["queued"] == 1


def test_frames_come_half_as_often_while_the_loop_is_saturated_and_carry_every_change() -> None:
    """A burst's client saturates the loop the stream shares: once the loop's thread is
    seen on the CPU over half a frame interval, frames (a send per viewer each) come at most
    ~15 a second for a while; then ~30 again. Either way a viewer learns every connection."""
    import time

    from app.web.stream import BUSY_FRAME_INTERVAL_S, BUSY_HOLD_S, FRAME_INTERVAL_S

    async def scenario() -> None:
        timeline = Timeline()
        stream = Stream(timeline, status=lambda: {"id": 1})
        stream.start()
        viewer = stream.join()
        frames: list[dict[str, object]] = []

        async def drain() -> None:
            while True:
                frames.append(json.loads(await viewer.queue.get()))

        reader = asyncio.create_task(drain())

        async def changes(seconds: float) -> None:
            # A new connection every ~10 ms, so every frame has a change.
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                record = ConnectionRecord(
                    id=timeline.next_id(), port=20_000 + len(timeline.records), burst=1, index=0, intended_ns=0
                )
                record.connect_start_ns = 0
                timeline.add(record)
                await asyncio.sleep(0.01)

        def now_ms() -> float:
            return (time.monotonic_ns() - stream.origin_ns) / 1e6

        await changes(0.3)
        # One callback keeps the loop's thread busy longer than a frame interval, as a
        # burst's callbacks back to back do.
        spin_until = time.thread_time() + 3 * FRAME_INTERVAL_S
        while time.thread_time() < spin_until:
            pass
        held_at = now_ms()
        await changes(BUSY_HOLD_S * 0.8)
        await changes(BUSY_HOLD_S + 0.5)
        await asyncio.sleep(0.2)
        reader.cancel()
        await stream.close()

        def gaps_ms(start_ms: float, end_ms: float) -> list[float]:
            # When each frame was made (its t_ms), not when the reader got to it.
            stamps = [f["t_ms"] for f in frames if f["type"] == "delta" and start_ms <= f["t_ms"] < end_ms]  # type: ignore[operator]
            return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]  # type: ignore[operator]

        # After the late wake-up no frame comes sooner than the busy interval after the
        # last (a sleep never ends early)...
        busy = gaps_ms(held_at, held_at + BUSY_HOLD_S * 800)
        assert len(busy) >= 3 and min(busy) >= BUSY_FRAME_INTERVAL_S * 1000 * 0.99, busy
        # ...and the idle cadence is back once the hold has passed.
        idle = gaps_ms(held_at + BUSY_HOLD_S * 1000 + 200, held_at + 10_000)
        assert idle and min(idle) < BUSY_FRAME_INTERVAL_S * 1000 * 0.75, idle
        known = {row[0] for row in frames[0]["connections"]}  # type: ignore[union-attr]
        known |= {row[0] for f in frames[1:] for row in f["changes"]}  # type: ignore[union-attr]
        assert known == {r.id for r in timeline.records}, "every connection reaches the viewer"

    asyncio.run(scenario())


def test_frames_carry_latency_counts_per_bucket_to_late_and_early_viewers() -> None:
    """The histogram's counts come from the server's buckets: a viewer there from the start
    (deltas) and one joining after (a snapshot) hold the same counts, each latency in the
    bucket from its edge up to the next."""
    from app.frames import LATENCY_EDGES_MS
    from app.timeline.model import Outcome, RequestRecord

    # Each latency (ms) and the edge of the bucket it belongs in.
    buckets = {0.05: 0.1, 0.1: 0.1, 0.15: 0.1, 1.5: 1, 999.9: 500, 1000.0: 1000, 150_000.0: 100_000}
    latencies_ms = list(buckets)
    expected = [0] * len(LATENCY_EDGES_MS)
    for edge in buckets.values():
        expected[LATENCY_EDGES_MS.index(edge)] += 1

    async def scenario() -> None:
        timeline = Timeline()
        stream = Stream(timeline, status=lambda: {"id": 1})
        stream.start()
        early = stream.join()
        for i, ms in enumerate(latencies_ms):
            record = ConnectionRecord(id=timeline.next_id(), port=20_000 + i, burst=1, index=i, intended_ns=0)
            record.connect_start_ns, record.connected_ns = 0, 10
            request = RequestRecord(index=0, start_ns=0, sent_ns=20, status=200, outcome=Outcome.OK)
            request.first_byte_ns = request.done_ns = round(ms * 1e6)
            record.requests.append(request)
            timeline.add(record)
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)
        late = stream.join()
        await asyncio.sleep(0.1)
        frames = [json.loads(early.queue.get_nowait()) for _ in range(early.queue.qsize())]
        assert frames[0]["type"] == "snapshot" and frames[0]["latency_edges_ms"] == list(LATENCY_EDGES_MS)
        counts = list(frames[0]["latency_counts"]) or [0] * len(LATENCY_EDGES_MS)
        for frame in frames[1:]:
            for k, n in enumerate(frame["latency_counts"]):
                counts[k] += n
        assert counts == expected
        snapshot = json.loads(late.queue.get_nowait())
        assert snapshot["type"] == "snapshot" and snapshot["latency_counts"] == expected
        await stream.close()

    asyncio.run(scenario())


def test_deltas_carry_the_target_status_only_when_it_changed() -> None:
    """The status (~1.7 KB) goes in a delta only when it differs from the last one sent:
    a viewer keeping the last one it saw always has the status as it is now, whether it
    was there from the start or joined later, and a change of the status alone is a frame."""
    import time

    from app.web.stream import STATUS_INTERVAL_S

    current: dict[str, object] = {"id": 1, "state": "starting", "version": 0}

    async def scenario() -> None:
        timeline = Timeline()
        stream = Stream(timeline, status=lambda: json.loads(json.dumps(current)))
        stream.start()
        early_frames: list[dict[str, object]] = []
        late_frames: list[dict[str, object]] = []

        async def drain(viewer: object, into: list[dict[str, object]]) -> None:
            while True:
                into.append(json.loads(await viewer.queue.get()))  # type: ignore[attr-defined]

        async def connections() -> None:
            # A new connection every ~30 ms, so nearly every frame goes out for its rows.
            while True:
                record = ConnectionRecord(
                    id=timeline.next_id(), port=30_000 + len(timeline.records), burst=1, index=0, intended_ns=0
                )
                record.connect_start_ns = 0
                timeline.add(record)
                await asyncio.sleep(0.03)

        def last_seen(frames: list[dict[str, object]]) -> object:
            seen: object = None
            for frame in frames:
                if frame["type"] == "snapshot" or "target" in frame:
                    seen = frame["target"]
            return seen

        async def change(into: list[dict[str, object]], quiet: bool = False, **status: object) -> None:
            """Changes the status, then waits for a delta made once the stream must have
            built it again (it keeps one for at most STATUS_INTERVAL_S), or when nothing
            else moves, for the next frame."""
            current.update(status, version=int(current["version"]) + 1)  # type: ignore[call-overload]
            mark_ms = (time.monotonic_ns() - stream.origin_ns) / 1e6 + STATUS_INTERVAL_S * 1000 + 50
            before = len(into)
            for _ in range(500):
                if quiet and len(into) > before:
                    return
                if any(f["type"] == "delta" and f["t_ms"] >= mark_ms for f in into):  # type: ignore[operator]
                    return
                await asyncio.sleep(0.01)
            raise AssertionError("no delta came after the status changed")

        early = stream.join()
        tasks = [asyncio.create_task(drain(early, early_frames)), asyncio.create_task(connections())]
        await asyncio.sleep(0.3)
        await change(early_frames, state="ready")
        assert last_seen(early_frames) == current
        await change(early_frames, bursts=[{"id": 1, "done": False}])
        assert last_seen(early_frames) == current
        # Joins while the status stands still: its snapshot holds what the last delta did.
        late = stream.join()
        tasks.append(asyncio.create_task(drain(late, late_frames)))
        await asyncio.sleep(0.3)
        await change(early_frames, bursts=[{"id": 1, "done": True}])
        assert last_seen(early_frames) == current and last_seen(late_frames) == current
        # Nothing moves but the status: its change alone is a frame.
        tasks[1].cancel()
        # Until the frames stop: the summary after the last change goes out on its own clock
        # (every 0.5 s, later after a slow walk), then nothing moves.
        settled_by = time.monotonic() + 10
        while time.monotonic() < settled_by:
            count = len(early_frames)
            await asyncio.sleep(1.0)
            if len(early_frames) == count:
                break
        quiet = len(early_frames)
        await change(early_frames, quiet=True, state="stopping")
        assert [("target" in f, f["changes"]) for f in early_frames[quiet:]] == [(True, [])]
        assert last_seen(early_frames) == current and last_seen(late_frames) == current
        for task in tasks:
            task.cancel()
        await stream.close()

        for frames, changes in ((early_frames, [1, 2, 3, 4]), (late_frames, [3, 4])):
            assert frames[0]["type"] == "snapshot" and "target" in frames[0]
            assert all(f["type"] == "delta" for f in frames[1:])
            seen = frames[0]["target"]
            for frame in frames[1:]:
                if "target" in frame:
                    assert frame["target"] != seen, frame["target"]
                    seen = frame["target"]
            # Each change once, in the first delta made after the stream built it again.
            assert [f["target"]["version"] for f in frames[1:] if "target" in f] == changes  # type: ignore[index]
        assert len(early_frames) > 30

    asyncio.run(scenario())
