"""The server witness must not change what uvicorn does."""

from __future__ import annotations

import pytest

from app.sandbox.settings import TargetSettings
from tests.conftest import outcomes, run_burst
from tests.support import enter_and_answer_delays

pytestmark = [pytest.mark.target]

SCENARIOS = {
    "limit reached": (
        {"limit_concurrency": 4, "handler": "async", "handler_ms": 1200},
        {"connections": 8, "pattern": "rate", "rate": 10},
    ),
    "loop blocked, backlog": (
        {"limit_concurrency": 3, "backlog": 10, "handler": "blocking", "handler_ms": 800},
        {"connections": 5, "pattern": "rate", "rate": 10},
    ),
}


@pytest.mark.parametrize("http", ["h11", "httptools"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_same_outcomes_with_and_without_instrumentation(name: str, http: str) -> None:
    target, burst = SCENARIOS[name]
    settings = target | {"http": http, "loop": "asyncio"}
    plain = run_burst(settings | {"instrument": False}, burst)
    witnessed = run_burst(settings | {"instrument": True}, burst)
    assert outcomes(witnessed) == outcomes(plain)
    assert witnessed["totals"] == plain["totals"]


def test_server_witness_reports_every_accepted_connection() -> None:
    result = run_burst(
        {"limit_concurrency": 3, "handler": "async", "handler_ms": 300, "http": "h11", "loop": "asyncio"},
        {"connections": 6, "pattern": "rate", "rate": 20},
    )
    for connection in result["connections"]:
        names = [s for s, _ in connection["states"]]
        assert "accepted" in names, "uvicorn's connection_made was reported"
        assert names[-1] == "closed"
        if connection["requests"][0]["outcome"] == "ok":
            assert "active" in names


@pytest.mark.parametrize("handler", ["blocking", "cpu"])
def test_a_handler_holding_the_loop_is_reported_entering_before_it_ends(handler: str) -> None:
    """The workload's handlers that hold the loop send its reports first: the live view
    shows the request in its slot for the second it holds it, not after."""
    settings = TargetSettings(handler=handler, handler_ms=1000, loop="asyncio")
    entered, answered = enter_and_answer_delays(settings)
    assert answered >= 1.0
    assert entered < 0.3, f"enter reached the control app {entered:.3f} s after the request, answered {answered:.3f}"
