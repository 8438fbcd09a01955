"""The cheaper witnesses keep telling the truth: binary server events, a channel sent by the
target's own loop (and for it, when a handler blocks that loop), and a kernel sampler that
dumps every connection only when something can have changed."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from app import witness_protocol
from app.kernel import PeerState, SockDiag, TcpState
from app.kernel.accept_queue import AcceptQueueSample
from app.kernel.sampler import KernelSampler
from app.sandbox.child import channel as events_channel
from app.sandbox.child.channel import (
    BUSY_FLUSH_INTERVAL_S,
    FLUSH_INTERVAL_S,
    STUCK_AFTER_S,
    WATCHDOG_MAX_INTERVAL_S,
    EventChannel,
)


def test_events_round_trip_and_an_unknown_kind_is_skipped() -> None:
    data = witness_protocol.encode("enter", 50_001, 10**15) + witness_protocol.encode("leave", 50_001, 10**15 + 7)
    garbled = bytearray(witness_protocol.encode("closed", 50_001, 10**15 + 9))
    garbled[0] = 200
    events = witness_protocol.decode(data + garbled, 4242)
    assert [(e.kind, e.pid, e.port, e.t_ns) for e in events] == [
        ("enter", 4242, 50_001, 10**15),
        ("leave", 4242, 50_001, 10**15 + 7),
    ]
    with pytest.raises(ValueError):
        witness_protocol.decode(data[:-1], 4242)


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[tuple[str, list[bytes]]]:
    """A Unix socket that records what arrives, as the control app's reader would."""
    path = str(tmp_path / "events.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    chunks: list[bytes] = []

    def read() -> None:
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(1 << 16):
                chunks.append(chunk)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    yield path, chunks
    server.close()


def _events(chunks: list[bytes]) -> list[witness_protocol.ServerEvent]:
    return witness_protocol.decode(b"".join(chunks), os.getpid())


def test_the_loop_sends_a_batch_and_a_blocked_loop_is_sent_for(reader: tuple[str, list[bytes]]) -> None:
    path, chunks = reader

    async def main() -> float:
        channel = EventChannel(path, watch=True)
        for port in range(50_000, 50_100):
            channel.emit(witness_protocol.ENTER, port)
        # Sent by the loop's own flush (the loop is free here); waited for, not slept past.
        sent_by = time.monotonic() + 1.0
        while len(_events(chunks)) < 100 and time.monotonic() < sent_by:
            await asyncio.sleep(0.005)
        assert [e.port for e in _events(chunks)] == list(range(50_000, 50_100))
        # A handler that blocks the loop: its request's `enter` must not wait for it.
        channel.emit(witness_protocol.ENTER, 60_000)
        blocked_at = time.monotonic()
        while not any(e.port == 60_000 for e in _events(chunks)):
            assert time.monotonic() - blocked_at < 1.0, "the blocked loop's event was never sent"
            time.sleep(0.005)
        channel._close()  # no watchdog left waking through the tests that follow
        return time.monotonic() - blocked_at

    waited = asyncio.run(main())
    assert waited < 0.3
    assert len(_events(chunks)) == 101


def test_without_a_watchdog_a_handler_sends_before_it_blocks(reader: tuple[str, list[bytes]]) -> None:
    """The workload's channel has no watchdog (its wake-ups cost a busy target its pace):
    its handlers that hold the loop send what has gathered first, a hold too short to
    matter only once the busy spacing is reached."""
    path, chunks = reader

    def wait_for(count: int) -> None:
        began = time.monotonic()
        while len(_events(chunks)) < count:
            assert time.monotonic() - began < 1.0, "the report waited for the blocked loop"
            time.sleep(0.005)

    async def main() -> None:
        channel = EventChannel(path)
        channel.emit(witness_protocol.ENTER, 7_000)
        sent_at = time.monotonic()
        channel.before_blocking(1.0)
        channel.emit(witness_protocol.ENTER, 7_001)
        channel.before_blocking(0.001)  # 1 ms, just after a send: the loop's own flush will do
        soon = time.monotonic() - sent_at < BUSY_FLUSH_INTERVAL_S - 0.002
        wait_for(1)  # the loop is held here: only before_blocking can have sent it
        assert not channel.watching, "no thread wakes in this target"
        time.sleep(0.003)
        if soon:  # a machine that stalled this thread for 13 ms has passed the spacing
            assert len(_events(chunks)) == 1
        time.sleep(BUSY_FLUSH_INTERVAL_S)
        channel.emit(witness_protocol.ENTER, 7_002)
        channel.before_blocking(0.001)  # short holds add up: past the spacing, it sends
        wait_for(3)

    asyncio.run(main())
    assert [e.port for e in _events(chunks)] == [7_000, 7_001, 7_002]


def test_only_a_users_app_gets_the_watchdog(reader: tuple[str, list[bytes]], monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = reader
    monkeypatch.setenv(events_channel.EVENTS_PATH_ENV, path)
    monkeypatch.setattr(events_channel, "_channel", None)
    monkeypatch.setattr(events_channel, "_opened", False)
    monkeypatch.setattr(events_channel, "_loop_may_block", False)
    opened = events_channel.channel()
    assert opened is not None and not opened.watching, "the workload's channel"
    events_channel.watch_for_a_blocked_loop()  # what userapp.create_app does in each worker
    assert opened.watching, "a channel already open starts it"
    monkeypatch.setattr(events_channel, "_channel", None)
    monkeypatch.setattr(events_channel, "_opened", False)
    reopened = events_channel.channel()
    assert reopened is not None and reopened.watching, "a channel opened later has it from the start"
    opened._close()
    reopened._close()


@pytest.mark.parametrize("held_by", ["cpu", "sleep"])
def test_a_loop_held_after_a_busy_spell_is_still_sent_for(reader: tuple[str, list[bytes]], held_by: str) -> None:
    """The watchdog backs off while the loop keeps the GIL busy (its wake-ups cost the loop
    its pace), but no further than WATCHDOG_MAX_INTERVAL_S: a handler that burns CPU on the
    loop, or sleeps on it, right after a busy spell still has its `enter` sent while it holds
    the loop."""
    path, chunks = reader

    async def main() -> float:
        channel = EventChannel(path, watch=True)
        try:
            for port in range(20_000, 20_400):  # a busy spell: the loop holds the GIL
                channel.emit(witness_protocol.ENTER, port)
                deadline = time.monotonic() + 0.002
                while time.monotonic() < deadline:
                    pass
                await asyncio.sleep(0)
            channel.emit(witness_protocol.ENTER, 30_000)
            held = time.monotonic()
            while not any(e.port == 30_000 for e in _events(chunks)):  # the loop held, never yielded
                assert time.monotonic() - held < 3.0, "the held loop's event was never sent"
                if held_by == "sleep":
                    time.sleep(0.002)
            return time.monotonic() - held
        finally:
            channel._close()  # its watchdog must not wake through the timing tests that follow

    waited = asyncio.run(main())
    assert waited < WATCHDOG_MAX_INTERVAL_S + STUCK_AFTER_S + 0.15, waited


def test_while_events_flow_the_target_sends_at_most_every_half_frame(reader: tuple[str, list[bytes]]) -> None:
    """Each send wakes the control app at the target's cost: a steady flow of events (one a
    millisecond for 150 ms) goes out in few sends, all of it, in order."""
    path, chunks = reader
    ports = list(range(40_000, 40_150))

    async def main() -> float:
        channel = EventChannel(path)
        began = time.monotonic()
        for port in ports:
            channel.emit(witness_protocol.ENTER, port)
            await asyncio.sleep(0.001)
        flowed = time.monotonic() - began
        deadline = time.monotonic() + 5
        while len(b"".join(chunks)) < len(ports) * witness_protocol.RECORD.size:
            assert time.monotonic() < deadline, "records went missing"
            await asyncio.sleep(0.01)
        return flowed

    flowed = asyncio.run(main())
    assert [e.port for e in _events(chunks)] == ports
    # Events for `flowed` seconds (150 ms or more: a loaded machine oversleeps): every 2 ms
    # would be one send per 2 ms, every 15 ms at most one per 15 ms and the last. A slow
    # reader may join sends, never split one.
    assert len(chunks) <= flowed / BUSY_FLUSH_INTERVAL_S + 2, (len(chunks), flowed)


def test_the_first_report_after_a_quiet_spell_waits_only_the_short_flush(reader: tuple[str, list[bytes]]) -> None:
    path, _ = reader
    delays: list[float] = []

    class Recording(asyncio.SelectorEventLoop):
        def call_later(self, delay: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
            if getattr(callback, "__name__", "") == "_flush":
                delays.append(delay)
            return super().call_later(delay, callback, *args, **kwargs)

    async def main() -> None:
        channel = EventChannel(path)
        channel.emit(witness_protocol.ENTER, 1)  # a fresh channel
        await asyncio.sleep(BUSY_FLUSH_INTERVAL_S * 2)
        channel.emit(witness_protocol.ENTER, 2)  # after a quiet spell
        # One turn of the loop, not a timed sleep: a wake-up 1 ms late would run the flush first.
        await asyncio.sleep(0)
        channel.emit(witness_protocol.ENTER, 3)  # joins the batch already waiting

    with asyncio.Runner(loop_factory=Recording) as runner:
        runner.run(main())
    assert delays == [FLUSH_INTERVAL_S, FLUSH_INTERVAL_S], "one flush each, 2 ms after its first event"


def test_records_stay_whole_and_in_order_when_the_loop_and_the_watchdog_both_send(
    reader: tuple[str, list[bytes]],
) -> None:
    """The loop queues without a lock while the watchdog sends for it: a loop blocked now
    and then, between runs of events, must lose, tear or reorder nothing."""
    path, chunks = reader
    ports = list(range(1_000, 31_000))

    async def main() -> None:
        channel = EventChannel(path, watch=True)
        for index, port in enumerate(ports):
            channel.emit(witness_protocol.ENTER, port)
            if index % 2_000 == 0:
                time.sleep(0.06)  # blocked past STUCK_AFTER_S: the watchdog sends meanwhile
            if index % 100 == 0:
                await asyncio.sleep(0)
        deadline = time.monotonic() + 5
        while len(b"".join(chunks)) < len(ports) * witness_protocol.RECORD.size:
            assert time.monotonic() < deadline, "records went missing"
            await asyncio.sleep(0.01)
        channel._close()

    asyncio.run(main())
    assert [e.port for e in _events(chunks)] == ports


def _peers(sampler_updates: list[Mapping[int, PeerState]], port: int) -> list[PeerState]:
    return [update[port] for update in sampler_updates if port in update]


def test_a_listener_only_dump_returns_the_listener_with_its_queue() -> None:
    with socket.socket() as listener, SockDiag() as diag:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            time.sleep(0.05)
            entries = diag.dump_port(port, listening_only=True)
            assert [(e.state, e.rqueue, e.wqueue) for e in entries] == [(TcpState.LISTEN, 1, 8)]
            assert len(diag.dump_port(port)) == 3


def test_the_sampler_still_sees_every_connection_queued_then_accepted() -> None:
    """Between full dumps nothing may slip by: a connection that arrives on an idle
    listener is seen queued, and once accept() takes it, accepted."""
    updates: list[Mapping[int, PeerState]] = []
    samples: list[AcceptQueueSample | None] = []

    def on_sample(
        _began_ns: int, _done_ns: int, sample: AcceptQueueSample | None, changed: Mapping[int, PeerState]
    ) -> None:
        samples.append(sample)
        if changed:
            updates.append(dict(changed))

    async def main() -> None:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(8)
            port = listener.getsockname()[1]
            sampler = KernelSampler(port, on_sample)
            sampler.start(asyncio.get_running_loop())
            try:
                await asyncio.sleep(0.3)  # settled: an idle listener
                client = socket.create_connection(("127.0.0.1", port))
                client_port = client.getsockname()[1]
                await asyncio.sleep(0.2)
                assert _peers(updates, client_port) == [PeerState.QUEUED]
                server_side, _ = listener.accept()
                await asyncio.sleep(0.2)
                assert _peers(updates, client_port) == [PeerState.QUEUED, PeerState.ACCEPTED]
                assert sampler.ticks > sampler.full_dumps > 0
                assert sampler.error is None
                server_side.close()
                client.close()
            finally:
                sampler.stop()

    asyncio.run(main())
    queued = [s.length for s in samples if s is not None]
    assert 1 in queued and queued[-1] == 0
