"""Ids and counts typed as Unicode digits ("²", "١") are refused like any other bad input:
str.isdigit() says yes to them, int() either raises (a 500) or reads "١" as 1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from app.store import RunStore
from app.web.app import create_app

BASE = "http://127.0.0.1:8000"


def _post(tmp_path: Path, url: str, data: dict[str, str]) -> httpx.Response:
    async def go() -> httpx.Response:
        app = create_app(store=RunStore(tmp_path / "runs.sqlite3"))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
                return await client.post(url, data=data)

    return asyncio.run(go())


def test_a_sweep_repeat_in_other_digits_is_an_inline_error(tmp_path: Path) -> None:
    for repeat in ("²", "١"):
        response = _post(tmp_path, "/sweeps", {"repeat": repeat, "handler_ms": "10"})
        assert response.status_code == 422, repeat
        assert "Enter a whole number from 1 to 20." in response.text


@pytest.mark.target
def test_a_stream_asked_for_a_target_in_other_digits_answers(dashboard: str) -> None:
    with connect(dashboard.replace("http://", "ws://") + "/ws?target=%C2%B2", open_timeout=10) as ws:
        assert ws.recv(timeout=10), "an empty view, as for an unknown target"
