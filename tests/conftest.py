from __future__ import annotations

from typing import Any

import pytest

from app.cli import raise_open_file_limit, run_async, run_once
from app.sandbox.settings import TargetSettings
from app.traffic.spec import BurstSpec


def run_burst(target: dict[str, Any], burst: dict[str, Any]) -> dict[str, Any]:
    """One real target, one real burst, the result as `connscope run --json` gives it."""
    return run_async(lambda: run_once(TargetSettings(**target), BurstSpec(**burst), show_progress=False))


def outcomes(result: dict[str, Any]) -> list[str]:
    """Each connection's first request outcome, in arrival order."""
    return [c["requests"][0]["outcome"] for c in result["connections"]]


def state_names(connection: dict[str, Any]) -> list[str]:
    return [state for state, _ in connection["states"]]


def time_in(connection: dict[str, Any], state: str) -> float:
    """Milliseconds the connection spent in `state` (all visits)."""
    changes = connection["states"]
    return sum(nxt[1] - t for (name, t), nxt in zip(changes, changes[1:], strict=False) if name == state)


@pytest.fixture(scope="session", autouse=True)
def _open_files() -> None:
    raise_open_file_limit()
