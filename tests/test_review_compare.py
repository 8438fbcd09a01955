"""The runs page's compare picks: a refusal says what was wrong with the picks, above the list."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from app.store import RunStore
from app.web.app import create_app
from tests.test_report import connscope

pytestmark = pytest.mark.target


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One recorded run: the list the picks are made on."""
    path = tmp_path_factory.mktemp("picks") / "runs.sqlite3"
    done = connscope("run", "--connections", "2", "--handler-ms", "5", "--record", "--store", str(path))
    assert done.returncode == 0, done.stderr
    return path


def _get(store: Path, url: str) -> httpx.Response:
    async def go() -> httpx.Response:
        app = create_app(store=RunStore(store))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
                return await client.get(url)

    return asyncio.run(go())


def test_two_picks_one_not_a_run_id_says_so_not_pick_two(store: Path) -> None:
    response = _get(store, "/runs/compare?run=2&run=x<b>")
    assert response.status_code == 422
    assert "&#39;x&lt;b&gt;&#39; is not a run id: pick two runs from the list." in response.text
    assert "you picked 2" not in response.text


def test_three_picks_are_refused_with_their_count(store: Path) -> None:
    response = _get(store, "/runs/compare?run=1&run=2&run=3")
    assert response.status_code == 422
    assert "Pick exactly two runs to compare (you picked 3)." in response.text


def test_a_pick_in_other_digits_is_refused_not_a_500(store: Path) -> None:
    # "²".isdigit() is True, and int("²") raises.
    response = _get(store, "/runs/compare?run=1&run=%C2%B2")
    assert response.status_code == 422
    assert "&#39;²&#39; is not a run id: pick two runs from the list." in response.text
