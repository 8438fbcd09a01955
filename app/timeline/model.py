"""The state model of DESIGN.md: one record per client connection, joined from three witnesses.

A record stores what each witness saw, as raw facts with `time.monotonic_ns()` stamps; the
sequence of states is derived from those facts, so late evidence (a server event that
arrives after the client finished, a kernel sample) corrects the picture instead of being
lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    CONNECTING = "connecting"
    LIMBO = "limbo"
    QUEUED = "queued"
    ACCEPTED = "accepted"
    ACTIVE = "active"
    CLOSED = "closed"


class Outcome(StrEnum):
    OK = "ok"
    REJECTED = "rejected"
    ERROR = "error"
    REFUSED = "refused"
    RESET = "reset"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    """connscope cut the burst short (its target was stopped or replaced) before the
    request finished; the request's `error` says why."""


@dataclass(slots=True)
class RequestRecord:
    index: int
    start_ns: int
    """When the request was meant to start: the scheduled arrival for a connection's first
    request (so a late start counts against latency: no coordinated omission), the moment
    it was written for the others."""
    sent_ns: int | None = None
    first_byte_ns: int | None = None
    done_ns: int | None = None
    status: int | None = None
    from_app: bool = False
    outcome: Outcome | None = None
    error: str | None = None
    """errno name or a short reason for failed requests."""
    path: str = "/"

    @property
    def latency_ns(self) -> int | None:
        if self.done_ns is None:
            return None
        return self.done_ns - self.start_ns


@dataclass(slots=True)
class AppSpan:
    enter_ns: int
    leave_ns: int | None = None


@dataclass(slots=True)
class ConnectionRecord:
    id: int
    """Given by the timeline when the record is created: the one id the live stream, the
    API and the run's result know the connection by."""
    port: int
    burst: int
    index: int
    intended_ns: int
    # client witness
    connect_start_ns: int | None = None
    connected_ns: int | None = None
    client_closed_ns: int | None = None
    syn_retransmits: int | None = None
    """SYNs the client's kernel sent again (tcpi_total_retrans before any data): each one a
    SYN the server side dropped, typically because its accept queue was full."""
    requests: list[RequestRecord] = field(default_factory=list)
    # server witness
    taken_ns: int | None = None
    """When the server's accept() took it from the kernel's queue (asyncio loop only)."""
    accepted_ns: int | None = None
    """When uvicorn's connection_made ran for it."""
    server_closed_ns: int | None = None
    worker_pid: int | None = None
    """The uvicorn process that took it: with workers > 1 each has its own slots."""
    app_spans: list[AppSpan] = field(default_factory=list)
    # kernel witness: sightings where the kernel's view changed, as (t_ns, state)
    kernel_seen: list[tuple[int, State]] = field(default_factory=list)
    client: str = "normal"
    """The client's kind: `normal`, or `slow` (dribbles its request headers)."""
    queued_seen_ns: int | None = None
    """The start of the kernel's last dump that saw it in the accept queue (`kernel_seen`
    keeps the first sighting): if it was established by then, it was queued until then."""

    def kernel_sighting(self, began_ns: int, done_ns: int, state: State) -> None:
        """A dump made from `began_ns` to `done_ns` saw it in `state`: at some moment in
        between, so the state held by `done_ns` and, if it was queued, the queue held it
        from its establishment at least until `began_ns`."""
        if state is State.QUEUED:
            self.queued_seen_ns = began_ns
        if not self.kernel_seen or self.kernel_seen[-1][1] != state:
            self.kernel_seen.append((done_ns, state))

    def states(self) -> list[tuple[State, int]]:
        """The connection's state changes in time order, from all three witnesses."""
        return derive_states(self)

    def state_at(self, t_ns: int) -> State | None:
        return state_at(self.states(), t_ns)

    @property
    def state(self) -> State | None:
        changes = self.states()
        return changes[-1][0] if changes else None


def state_at(changes: Sequence[tuple[State, int]], t_ns: int) -> State | None:
    """The state at `t_ns` in a sequence of derived state changes."""
    current = None
    for state, t in changes:
        if t > t_ns:
            break
        current = state
    return current


def owned_since(rec: ConnectionRecord) -> int | None:
    """When the server process first owned the connection: the earliest of its accept()
    returning, the kernel seeing the socket owned, uvicorn's connection_made (which can
    trail accept() by a while when the loop is busy), and the first response byte."""
    seen_owned = next((t for t, s in rec.kernel_seen if s is State.ACCEPTED), None)
    # A response byte proves it too, when the server's own reports are missing.
    answered = min((r.first_byte_ns for r in rec.requests if r.first_byte_ns is not None), default=None)
    evidence = [t for t in (rec.taken_ns, seen_owned, rec.accepted_ns, answered) if t is not None]
    return min(evidence) if evidence else None


def derive_states(rec: ConnectionRecord) -> list[tuple[State, int]]:
    if rec.connect_start_ns is None:
        return []
    out: list[tuple[State, int]] = [(State.CONNECTING, rec.connect_start_ns)]
    end = rec.client_closed_ns
    accepted = owned_since(rec)
    if accepted is not None and end is not None and accepted > end:
        # The server took it from the queue after the client had given up: by then the
        # connection was over for the client, so it never reached `accepted`.
        accepted = None

    before_accept = [
        (t, s) for t, s in rec.kernel_seen if s in (State.LIMBO, State.QUEUED) and (accepted is None or t < accepted)
    ]
    # The client notices connect() completing on its own loop's schedule; a kernel sighting
    # of the established connection can come first, and then it is the better witness.
    evidence = [t for t in (rec.connected_ns, before_accept[0][0] if before_accept else None) if t is not None]
    established = min(evidence) if evidence else None
    if accepted is not None and established is not None and _accept_unseen(rec, before_accept):
        # uvloop accepts in C, where no witness reaches: the queue is known to have held the
        # connection until the start of the kernel's last dump that saw it there, and it was
        # taken at some moment before the kernel saw it owned or connection_made ran.
        # Counting only the known span as queued keeps every record's queued inside what the
        # kernel's queue really held, so at any moment the records' queued count is at most
        # the queue length the next dump read from the listener.
        last_queued = established if rec.queued_seen_ns is None else min(rec.queued_seen_ns, accepted)
        accepted = max(established, last_queued)
    if established is not None and (accepted is None or established < accepted):
        if any(s is State.LIMBO for _, s in before_accept):
            # Connected with no server-side socket yet (SYN cookie, or the final ACK
            # dropped): limbo from the moment the connection was established.
            out.append((State.LIMBO, established))
            last_limbo = max(t for t, s in before_accept if s is State.LIMBO)
            queued_after = [t for t, s in before_accept if s is State.QUEUED and t > last_limbo]
            if queued_after:
                out.append((State.QUEUED, queued_after[0]))
        else:
            # On loopback a completed handshake puts the server-side socket straight into
            # the accept queue, however briefly it stays there.
            out.append((State.QUEUED, established))

    if accepted is not None:
        out.append((State.ACCEPTED, accepted))
        for span in rec.app_spans:
            if end is not None and span.enter_ns > end:
                break
            out.append((State.ACTIVE, span.enter_ns))
            # The app may run on after the client gave up: the connection is over for the
            # client at its close, whatever the app does later.
            if span.leave_ns is not None and (end is None or span.leave_ns <= end):
                out.append((State.ACCEPTED, span.leave_ns))

    if end is not None:
        out.append((State.CLOSED, end))
    return _monotonic(out)


def _accept_unseen(rec: ConnectionRecord, before_accept: Sequence[tuple[int, State]]) -> bool:
    """No accept() witness, but the kernel watched the connection until it was owned (and
    no limbo, whose end the kernel's sightings already bound)."""
    return (
        rec.taken_ns is None
        and any(s is State.ACCEPTED for _, s in rec.kernel_seen)
        and not any(s is State.LIMBO for _, s in before_accept)
    )


def _monotonic(changes: list[tuple[State, int]]) -> list[tuple[State, int]]:
    """Witnesses are stamped by one clock but report from different processes: a stamp a
    few microseconds out of order is clamped, never reordered."""
    result: list[tuple[State, int]] = []
    for state, t in changes:
        if result:
            prev_state, prev_t = result[-1]
            t = max(t, prev_t)
            if prev_state == state:
                continue
            if prev_t == t and prev_state is not State.CONNECTING:
                # A zero-length state is dropped; what it lay between may then be one state.
                result.pop()
                if result and result[-1][0] == state:
                    continue
                result.append((state, t))
                continue
        result.append((state, t))
    return result


def classify_response(status: int, from_app: bool) -> Outcome:
    if 200 <= status < 400:
        return Outcome.OK
    if status == 503 and not from_app:
        return Outcome.REJECTED
    return Outcome.ERROR
