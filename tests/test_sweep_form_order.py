"""POST /sweeps says the cheap things first: a sweep already running before any value is
checked, a list longer than the sweep cap before each of its values is; and its numbers
read as numbers (a rate of 1e-300 is not a 300-digit span)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

import app.sweep
from app.errors import CapExceeded
from app.limits import Limits
from app.store import RunStore
from app.sweep import plan
from app.traffic.spec import BurstSpec
from app.web.app import create_app
from app.web.registry import Registry

BASE = "http://127.0.0.1:8000"
LONG = ",".join(str(n) for n in range(1, 8_501))


def _post(tmp_path: Path, form: dict[str, str], sweep_running: bool = False) -> httpx.Response:
    """The form posted to the app in-process (with a real sweep running when asked)."""

    async def go() -> httpx.Response:
        app = create_app(store=RunStore(tmp_path / "runs.sqlite3"))
        async with app.router.lifespan_context(app):
            registry: Registry = app.state.registry
            if sweep_running:
                grid = plan({"loop": ["asyncio"], "handler_ms": ["3000"]}, {"connections": ["2"]})
                await registry.start_sweep(grid)
                assert registry.sweep_running
            try:
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
                    return await client.post("/sweeps", data=form | {"repeat": "1"})
            finally:
                if sweep_running:
                    await registry.stop_sweep("the test is over")

    return asyncio.run(go())


@pytest.mark.target
def test_a_running_sweep_is_said_before_the_grid_is_checked(tmp_path: Path) -> None:
    # A typo and a long list: with a sweep running, neither is worth checking.
    response = _post(tmp_path, {"connections": "abc", "rate": LONG, "pattern": "rate"}, sweep_running=True)
    assert response.status_code == 409, response.text
    assert "sweep 1 is running: one sweep at a time; stop it first" in response.text
    assert 'id="sweep-connections-error"' not in response.text and 'id="sweep-rate-error"' not in response.text


def test_a_list_longer_than_the_sweep_cap_is_refused_by_its_length(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[str] = []
    value_input = app.sweep._input
    monkeypatch.setattr(app.sweep, "_input", lambda *args: read.append(args[2]) or value_input(*args))
    with pytest.raises(CapExceeded) as refused:
        plan({}, {"pattern": ["rate"], "rate": LONG.split(",")}, limits=Limits())
    assert read == [], "refused by its length, before any of the 8500 values is read"
    assert refused.value.field == "rate"
    response = _post(tmp_path, {"pattern": "rate", "rate": LONG})
    assert response.status_code == 422
    error = re.search(r'id="sweep-rate-error"[^>]*>([^<]*)<', response.text)
    assert error is not None
    assert error.group(1) == "8500 values for rate: a sweep makes at most 64 runs; --max-sweep-runs raises it."


@pytest.mark.parametrize("pattern", ["rate", "poisson"])
def test_a_tiny_rate_reads_as_a_number(tmp_path: Path, pattern: str) -> None:
    response = _post(tmp_path, {"pattern": pattern, "rate": "1e-300", "seed": "7"})
    assert response.status_code == 422, response.text
    error = re.search(r'id="sweep-error"[^>]*>([^<]*)<', response.text) or re.search(
        r'id="sweep-rate-error"[^>]*>([^<]*)<', response.text
    )
    assert error is not None, response.text
    said = error.group(1)
    assert re.search(r"^\d\.\d+e\+30[12] seconds a burst is scheduled to last", said), said
    assert not re.search(r"\d{10}", said), said


def test_a_poisson_burst_at_a_tiny_rate_is_refused_by_the_cap_not_a_crash() -> None:
    with pytest.raises(CapExceeded) as refused:
        Limits().check_burst(BurstSpec(pattern="poisson", rate=1e-300, seed=7))
    assert refused.value.cap == "burst_seconds" and "e+30" in refused.value.message
