"""Guided scenarios: settings and a burst that show one behaviour, and a finding written
from the run's own counts and timestamps (never canned text).

Arrivals are spaced and handlers hold their slot for known times, so each scenario shows
the same thing on a busy laptop; the target's loop is pinned because asyncio and uvloop
accept differently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.numbers import ms_text
from app.result import Connection, RunResult
from app.sandbox.settings import TargetSettings
from app.timeline.model import Outcome, State
from app.traffic.spec import BurstSpec

Result = RunResult


def _ms(value: float) -> str:
    return f"{ms_text(value)} ms"


def _measured(value: int | None) -> str:
    return "an unmeasured length" if value is None else str(value)


def _latency(connection: Connection) -> float:
    return connection.requests[0].latency_ms or 0.0


def _limit_reached(result: Result) -> str:
    totals, peaks = result.totals, result.peaks
    slowest = max((_latency(c) for c in result.with_outcomes(Outcome.REJECTED)), default=0.0)
    # Every connection passes through the accept queue, for well under a millisecond here:
    # the records time each stay; the kernel's samples (a few ms apart) see few of them.
    longest = max((c.time_in(State.QUEUED) for c in result.connections), default=0.0)
    backlog = (
        f"every connection passed through the backlog (at most {peaks.queued} at once, the longest for "
        f"{_ms(longest)}) and none waited there. "
    )
    return (
        f"{totals.rejected} of {totals.requests} requests got 503 within {_ms(slowest)} of arriving; "
        f"{backlog}{totals.ok} were served, at most {peaks.active} at once."
    )


def _backlog_while_blocked(result: Result) -> str:
    waited = [c for c in result.connections if c.time_in(State.QUEUED) > 100]
    longest = max((c.time_in(State.QUEUED) for c in waited), default=0.0)
    outcomes = [c.requests[0].outcome for c in waited]
    return (
        f"{len(waited)} connections waited in the backlog for up to {_ms(longest)} while the handler blocked "
        f"the event loop; when it freed, {outcomes.count(Outcome.REJECTED)} of them got 503 and "
        f"{outcomes.count(Outcome.OK)} were served ({result.settings.loop} loop)."
    )


def _dropped(result: Result) -> list[float]:
    """How long each client whose SYN was dropped (its kernel sent the SYN again) stayed
    `connecting`."""
    return sorted(c.time_in(State.CONNECTING) for c in result.connections if c.syn_retransmits)


def _backlog_full(result: Result) -> str:
    totals, capacity = result.totals, result.accept_queue_capacity
    dropped = _dropped(result)
    waits = f"{_ms(dropped[0])}–{_ms(dropped[-1])}" if dropped else "no time"
    return (
        f"The accept queue filled to {_measured(result.peaks.accept_queue)} (backlog {capacity} + 1). "
        f"{len(dropped)} clients had their SYN dropped and stayed connecting for {waits} until a retry got in; "
        f"{totals.ok} of {totals.requests} were served, {totals.rejected} got 503."
    )


def _both_full(result: Result) -> str:
    totals = result.totals
    dropped = _dropped(result)
    queued = sum(1 for c in result.connections if c.time_in(State.QUEUED) > 100)
    others = totals.requests - totals.ok - totals.rejected
    return (
        f"{len(dropped)} SYNs were dropped and retried (up to {_ms(dropped[-1] if dropped else 0)} connecting), "
        f"{queued} connections waited in the backlog; in the end {totals.ok} got 200, {totals.rejected} "
        f"got 503 and {others} anything else."
    )


def _off_by_one(result: Result) -> str:
    limit, peaks, totals = result.settings.limit_concurrency, result.peaks, result.totals
    return (
        f"With limit_concurrency={limit}, at most {peaks.active} requests ran at once: uvicorn counts the "
        f"connection being admitted, so request {peaks.active + 1} already got 503. "
        f"{totals.ok} served, {totals.rejected} rejected."
    )


def _idle_keep_alive(result: Result) -> str:
    idle = [c for c in result.connections if len(c.requests) > 1]
    totals = result.totals
    # The bins count connections (by their last request), the counters requests: say both.
    return (
        f"While {len(idle)} keep-alive connections sat idle between requests (at most "
        f"{result.peaks.active} request active at any time), {totals.rejected} new requests got "
        f"503: idle connections count against limit_concurrency={result.settings.limit_concurrency}. "
        f"{totals.ok} of {totals.requests} requests were served, on {len(idle)} connections."
    )


def _were(count: int) -> str:
    return "was" if count == 1 else "were"


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _max_requests(result: Result) -> str:
    totals, target = result.totals, result.target
    after = f"; {totals.reset} caught in the shutdown {_were(totals.reset)} reset" if totals.reset else ""
    return (
        f"uvicorn served {totals.ok} requests (limit_max_requests={result.settings.limit_max_requests}) "
        f"and exited ({target.exit}); {_count(totals.refused, 'later connection')} "
        f"{_were(totals.refused)} refused{after}."
    )


def _thread_pool(result: Result) -> str:
    hold = result.settings.handler_ms
    latencies = sorted(_latency(c) for c in result.connections if c.requests)
    first = [ms for ms in latencies if ms < hold * 1.8]
    later = [ms for ms in latencies if ms >= hold * 1.8]
    tail = f" and {len(later)} after about {_ms(later[len(later) // 2])}" if later else ""
    stays = [c.time_in(State.QUEUED) for c in result.connections]
    kernel = result.peaks.accept_queue
    sampled = "not sampled" if kernel is None else f"{kernel} in the kernel's samples, a few ms apart"
    return (
        f"{len(latencies)} requests arrived at once with no limit_concurrency; {len(first)} finished after about "
        f"{_ms(first[len(first) // 2]) if first else '-'}{tail}: the thread pool ran at most {len(first)} "
        f"def endpoints at a time. On the way in, up to {result.peaks.queued} connections were in the "
        f"backlog at once, each for at most {_ms(max(stays, default=0.0))} ({sampled})."
    )


def _kernel_knobs(result: Result) -> str:
    settings, totals = result.settings, result.totals
    limbo = sum(1 for c in result.connections if c.time_in(State.LIMBO) > 0)
    dropped = _dropped(result)
    return (
        f"listen(backlog={settings.backlog}) got an accept queue of {result.accept_queue_capacity}: "
        f"net.core.somaxconn={settings.somaxconn} caps it (set in the experiment's own network namespace; "
        f"the host's settings are untouched). With tcp_abort_on_overflow={int(bool(settings.tcp_abort_on_overflow))}, "
        f"{_count(totals.reset, 'connection')} {_were(totals.reset)} reset, {limbo} sat in limbo and "
        f"{len(dropped)} SYNs were dropped "
        f"and retried; {totals.ok} of {totals.requests} were served."
    )


def _one_gate(result: Result) -> str:
    """One leg of the uvicorn-vs-Granian scenario, said on its own."""
    totals = result.totals
    waited = max((c.time_in(State.QUEUED) for c in result.connections), default=0.0)
    return (
        f"{result.target.server_version or result.settings.server}: {totals.ok} of {totals.requests} served, "
        f"{totals.rejected} got 503, at most {result.peaks.active} at once; the longest wait in the backlog "
        f"{_ms(waited)}, p99 latency {_ms(result.latency_ms.p99 or 0.0)}."
    )


def _gate_versus_wait(uvicorn: Result, granian: Result) -> str:
    u, g = uvicorn.totals, granian.totals
    rejected = uvicorn.with_outcomes(Outcome.REJECTED)
    slowest_503 = max((_latency(c) for c in rejected), default=0.0)
    waited = [c for c in granian.connections if c.time_in(State.QUEUED) > 100]
    longest = max((c.time_in(State.QUEUED) for c in waited), default=0.0)
    return (
        f"The same {granian.burst.connections} requests: uvicorn (limit_concurrency="
        f"{uvicorn.settings.limit_concurrency}) served {u.ok} and answered 503 to {u.rejected} of {u.requests}, "
        f"each within {_ms(slowest_503)}; p99 {_ms(uvicorn.latency_ms.p99 or 0.0)}. "
        f"Granian (backpressure={granian.settings.backpressure}) rejected {g.rejected} and served {g.ok}, at most "
        f"{granian.peaks.active} at once: {len(waited)} waited in the kernel's accept queue (up to "
        f"{_measured(granian.peaks.accept_queue)} at once in its samples, the longest {_ms(longest)}) until a "
        f"slot freed; p99 {_ms(granian.latency_ms.p99 or 0.0)}."
    )


def interrupted_finding(burst_id: int, scenario: Scenario | None, result: Result) -> str:
    """What an interrupted burst got to show before it was cut short."""
    totals, planned = result.totals, result.burst.connections
    what = f"Burst {burst_id}" + (f" (scenario {scenario.id})" if scenario else "")
    finished = totals.requests - totals.cancelled
    unstarted = planned - totals.connections
    later = f", {unstarted} never started" if unstarted else ""
    return (
        f"{what} was interrupted after {_ms(result.duration_ms)}, {result.cancelled}: {finished} requests "
        f"had finished ({totals.ok} ok, {totals.rejected} 503), "
        f"{totals.cancelled} {_were(totals.cancelled)} cancelled{later}."
    )


@dataclass(frozen=True, slots=True)
class Scenario:
    id: str
    title: str
    watch: str
    settings: TargetSettings
    burst: BurstSpec
    finding: Callable[[Result], str]
    versus: TargetSettings | None = None
    """A second target that gets the identical burst once the first is done (never both at once)."""
    compare: Callable[[Result, Result], str] | None = None
    """The finding from both runs, first and second."""


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "limit-async",
        "Limit reached (async handler): rejected at once, not queued",
        "The slots fill and the 503 bin grows; each connection only passes through the backlog, for a fraction "
        "of a millisecond, and none waits there.",
        TargetSettings(limit_concurrency=5, handler="async", handler_ms=1500, loop="asyncio"),
        BurstSpec(connections=10, pattern="rate", rate=10),
        _limit_reached,
    ),
    Scenario(
        "backlog-blocked",
        "Requests wait in the backlog while the loop is blocked: what do they get?",
        "The backlog fills while one request blocks the loop; see where they go when it frees.",
        TargetSettings(limit_concurrency=3, backlog=10, handler="blocking", handler_ms=1000, loop="asyncio"),
        BurstSpec(connections=6, pattern="rate", rate=10),
        _backlog_while_blocked,
    ),
    Scenario(
        "backlog-full",
        "Backlog full, limit not reached: SYNs dropped, retried about once a second",
        "The connecting lane: clients wait there about a second before a retried SYN gets in.",
        TargetSettings(backlog=2, handler="blocking", handler_ms=500, loop="asyncio"),
        BurstSpec(connections=6, pattern="rate", rate=20, client_timeout_s=20),
        _backlog_full,
    ),
    Scenario(
        "both-full",
        "Backlog and limit both full",
        "SYNs wait in connecting, the backlog fills, and the queued requests meet the limit.",
        TargetSettings(limit_concurrency=2, backlog=2, handler="blocking", handler_ms=500, loop="asyncio"),
        BurstSpec(connections=8, pattern="rate", rate=30, client_timeout_s=20),
        _both_full,
    ),
    Scenario(
        "off-by-one",
        "The off-by-one: how many limit_concurrency=N really serves at once",
        "Count the busy slots: one of the N places is taken by the connection being admitted.",
        TargetSettings(limit_concurrency=3, handler="async", handler_ms=1500, loop="asyncio"),
        BurstSpec(connections=6, pattern="rate", rate=10),
        _off_by_one,
    ),
    Scenario(
        "keep-alive-idle",
        "Idle keep-alive connections eat the limit",
        "Two connections idle in accepted, then new ones get 503 while no slot is busy.",
        TargetSettings(limit_concurrency=3, handler="async", handler_ms=10, timeout_keep_alive=5, loop="asyncio"),
        BurstSpec(connections=4, pattern="rate", rate=4, requests_per_connection=2, pause_ms=1500),
        _idle_keep_alive,
    ),
    Scenario(
        "max-requests",
        "limit_max_requests: the server exits, later connections are refused",
        "The target's badge turns to exited and the refused bin fills.",
        TargetSettings(limit_max_requests=3, handler="async", handler_ms=10, loop="asyncio"),
        BurstSpec(connections=8, pattern="rate", rate=4),
        _max_requests,
    ),
    Scenario(
        "thread-pool",
        "A def endpoint: the thread pool's ceiling is a hidden limit",
        "60 requests go active at once but finish in two waves.",
        TargetSettings(handler="sync", handler_ms=1000, loop="asyncio"),
        BurstSpec(connections=60, pattern="burst", client_timeout_s=20),
        _thread_pool,
    ),
    Scenario(
        "kernel-knobs",
        "Kernel knobs: somaxconn caps the backlog; the clients it cannot hold wait",
        "Count the backlog boxes: 8, not the 100 asked for; the rest wait in connecting (SYN dropped) or limbo "
        "(SYN cookie). tcp_abort_on_overflow=1 resets only a handshake completed into a full queue; on loopback "
        "the handshake completes inside connect(), so watch the reset bin stay (nearly) empty.",
        TargetSettings(
            backlog=100, somaxconn=8, tcp_abort_on_overflow=True, handler="blocking", handler_ms=300, loop="asyncio"
        ),
        BurstSpec(connections=30, pattern="burst", client_timeout_s=15),
        _kernel_knobs,
    ),
    Scenario(
        "uvicorn-vs-granian",
        "The same burst at uvicorn's 503 gate and at Granian's backpressure",
        "uvicorn's 503 bin fills at once; under Granian nothing is rejected: the requests beyond the slots wait "
        "in the kernel's accept queue and are served in waves.",
        TargetSettings(limit_concurrency=3, handler="async", handler_ms=1000, loop="asyncio"),
        BurstSpec(connections=8, pattern="rate", rate=20, client_timeout_s=20),
        _one_gate,
        versus=TargetSettings(server="granian", backpressure=3, handler="async", handler_ms=1000, loop="asyncio"),
        compare=_gate_versus_wait,
    ),
)

BY_ID: dict[str, Scenario] = {s.id: s for s in SCENARIOS}
