"""Route-level behaviour that needs no target: the app in-process through httpx's ASGI
transport (its lifespan run as uvicorn would), so these take milliseconds, not a process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from app.store import RunStore
from app.web.app import create_app

T = TypeVar("T")
# The default access of `connscope serve`: loopback, port 8000, no token.
BASE = "http://127.0.0.1:8000"


@asynccontextmanager
async def _client(store: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store=RunStore(store))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
            yield client


def _run(tmp_path: Path, steps: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    async def go() -> T:
        async with _client(tmp_path / "runs.sqlite3") as client:
            return await steps(client)

    return asyncio.run(go())


@pytest.mark.parametrize("path", ["/", "/runs", "/docs", "/openapi.json", "/healthz"])
def test_pages_are_served(tmp_path: Path, path: str) -> None:
    response = _run(tmp_path, lambda c: c.get(path))
    assert response.status_code == 200, response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    if response.headers["content-type"].startswith("text/html"):
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/", "/healthz"])
def test_a_head_request_gets_the_pages_headers(tmp_path: Path, path: str) -> None:
    """`curl -I` and load balancers' checks ask with HEAD (it was 405)."""
    response = _run(tmp_path, lambda c: c.head(path))
    assert response.status_code == 200 and response.content == b""
    assert response.headers["x-content-type-options"] == "nosniff"


def test_an_unknown_host_is_400_before_any_route(tmp_path: Path) -> None:
    response = _run(tmp_path, lambda c: c.get("/api/runs", headers={"Host": "evil.example"}))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")


def test_a_cross_site_post_is_403_and_starts_nothing(tmp_path: Path) -> None:
    async def steps(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        refused = await client.post("/api/targets", json={}, headers={"Origin": "http://evil.example"})
        return refused, await client.get("/api/targets")

    refused, targets = _run(tmp_path, steps)
    assert refused.status_code == 403
    assert targets.json() == []


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_is_a_readable_422(tmp_path: Path, value: str) -> None:
    body = '{"handler_ms": ' + value + "}"
    response = _run(
        tmp_path, lambda c: c.post("/api/targets", content=body, headers={"Content-Type": "application/json"})
    )
    assert response.status_code == 422, response.text
    assert "finite" in response.text


def test_an_unknown_scenario_echoes_no_markup(tmp_path: Path) -> None:
    response = _run(tmp_path, lambda c: c.post("/scenarios/<img src=x onerror=alert(1)>"))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("run_id", [0, 2**63, 10**20])
def test_run_ids_past_sqlite_are_404(tmp_path: Path, run_id: int) -> None:
    response = _run(tmp_path, lambda c: c.get(f"/api/runs/{run_id}"))
    assert response.status_code == 404, response.text


def test_comparing_runs_of_an_empty_store_says_why_on_the_page(tmp_path: Path) -> None:
    async def steps(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/runs/compare", params={"run": "1"})

    page = _run(tmp_path, steps)
    assert page.status_code == 422
    assert 'id="compare-runs-error"' in page.text and "Pick exactly two runs" in page.text
    assert 'id="runs-empty"' in page.text


def test_the_target_form_puts_every_field_in_one_fieldset() -> None:
    from app.web.pages import KERNEL_FIELDS, SERVER_FIELDS, TARGET_FIELDS, WORKLOAD_FIELDS

    grouped = SERVER_FIELDS + WORKLOAD_FIELDS + KERNEL_FIELDS
    assert sorted(grouped) == sorted(TARGET_FIELDS), "a field missing from the form, or shown twice"
