"""The timeline joins the three witnesses by client port into connection records."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from app.kernel.accept_queue import AcceptQueueSample
from app.timeline.model import AppSpan, ConnectionRecord, State
from app.witness_protocol import ServerEvent

Listener = Callable[[ConnectionRecord], None]


@dataclass
class Timeline:
    """Every connection of every burst fired at one target, in arrival order."""

    records: list[ConnectionRecord] = field(default_factory=list)
    queue_samples: list[AcceptQueueSample] = field(default_factory=list)
    by_port: dict[int, ConnectionRecord] = field(default_factory=dict)
    replaced: dict[int, ConnectionRecord] = field(default_factory=dict)
    """The connection each port served before its latest one, for its late reports."""
    listeners: list[Listener] = field(default_factory=list)
    last_server_event_ns: int = 0
    last_dump_began_ns: int = 0
    """When the kernel's last dump began: the dump before a change still saw the old state."""

    def next_id(self) -> int:
        """The id of the next record made for this timeline: its place in `records`."""
        return len(self.records)

    def record(self, record_id: int) -> ConnectionRecord | None:
        """The record known by `record_id` to the stream, the API and the result."""
        found = self.records[record_id] if 0 <= record_id < len(self.records) else None
        return found if found is not None and found.id == record_id else None

    def add(self, record: ConnectionRecord) -> None:
        """Registers a connection, by its client port when it is known; the client's ports
        are chosen by connect() (0 until then) and given by `port_chosen`."""
        self.records.append(record)
        if record.port:
            self._index(record)
        self.changed(record)

    def port_chosen(self, record: ConnectionRecord, port: int) -> None:
        """The client port connect() chose for `record`, told before the loop runs anything
        else, so no report for it can come first."""
        record.port = port
        self._index(record)

    def _index(self, record: ConnectionRecord) -> None:
        # A port is unique among live sockets; a later connection reusing it replaces the
        # old mapping. A late event for the old one is told apart by its time (below): when
        # the server closes first, the client's port is free at once and is soon reused,
        # while the server's report of that close may still be on its way.
        previous = self.by_port.get(record.port)
        if previous is not None:
            self.replaced[record.port] = previous
        self.by_port[record.port] = record

    def changed(self, record: ConnectionRecord) -> None:
        for listener in self.listeners:
            listener(record)

    def server_event(self, event: ServerEvent) -> None:
        self.last_server_event_ns = max(self.last_server_event_ns, event.t_ns)
        record = self.by_port.get(event.port)
        if record is not None and record.connect_start_ns is not None and event.t_ns < record.connect_start_ns:
            record = self.replaced.get(event.port)
        if record is None or (record.connect_start_ns is not None and event.t_ns < record.connect_start_ns):
            # Probes and connections from before this record: not part of any burst.
            return
        if event.kind in ("taken", "accepted", "enter") and record.worker_pid is None:
            record.worker_pid = event.pid
        if event.kind == "taken":
            record.taken_ns = record.taken_ns or event.t_ns
        elif event.kind == "accepted":
            record.accepted_ns = event.t_ns
        elif event.kind == "enter":
            record.app_spans.append(AppSpan(enter_ns=event.t_ns))
        elif event.kind == "leave":
            span = _first_open(record.app_spans)
            if span is not None:
                span.leave_ns = event.t_ns
        elif event.kind == "closed":
            record.server_closed_ns = event.t_ns
        self.changed(record)

    def kernel_sample(
        self, began_ns: int, done_ns: int, sample: AcceptQueueSample | None, peers: Mapping[int, str]
    ) -> None:
        """Applies one kernel dump, made from `began_ns` to `done_ns`: the accept queue (None
        once nothing listens) and the client ports whose server-side view changed."""
        if sample is not None:
            self.queue_samples.append(sample)
        for port, seen in peers.items():
            record = self.by_port.get(port)
            if record is None or record.connect_start_ns is None or done_ns < record.connect_start_ns:
                continue
            if record.client_closed_ns is not None and done_ns > record.client_closed_ns:
                continue
            state = State(seen)
            if state is State.CONNECTING:
                continue
            was_queued = bool(record.kernel_seen) and record.kernel_seen[-1][1] is State.QUEUED
            if was_queued and state is not State.QUEUED and self.last_dump_began_ns:
                # Only changes arrive: the dump before this one still saw it queued.
                record.queued_seen_ns = max(record.queued_seen_ns or 0, self.last_dump_began_ns)
            before = len(record.kernel_seen)
            record.kernel_sighting(began_ns, done_ns, state)
            if len(record.kernel_seen) != before:
                self.changed(record)
        self.last_dump_began_ns = began_ns

    def pending_server_close(self, records: Iterable[ConnectionRecord]) -> int:
        """Connections the server accepted whose close it has not reported yet."""
        return sum(1 for r in records if r.accepted_ns is not None and r.server_closed_ns is None)


def _first_open(spans: list[AppSpan]) -> AppSpan | None:
    """The earliest span not yet left. Spans are left in order, so the open ones are a
    tail: walking back from the end costs the open spans, not a keep-alive's thousands."""
    first = None
    for span in reversed(spans):
        if span.leave_ns is not None:
            break
        first = span
    return first
