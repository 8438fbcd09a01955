"""Stale links and mistyped ids: a browser gets a page in the site's layout that says what
is missing and links back; the API and clients asking for JSON keep their JSON errors. The
app in-process through httpx's ASGI transport, its lifespan run as uvicorn would."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.errors import ConnscopeError
from app.store import RunStore
from app.web.app import create_app

BASE = "http://127.0.0.1:8000"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PAYLOAD = "<img src=x onerror=alert(1)>"


def _get(
    tmp_path: Path, *requests: tuple[str, dict[str, str]], prepare: Callable[[FastAPI], None] | None = None
) -> list[httpx.Response]:
    """Each request's response from the app, its lifespan running; `prepare` runs first, inside it."""

    async def go() -> list[httpx.Response]:
        app = create_app(store=RunStore(tmp_path / "runs.sqlite3"))
        async with app.router.lifespan_context(app):
            if prepare is not None:
                prepare(app)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
                return [await client.get(path, headers=headers) for path, headers in requests]

    return asyncio.run(go())


def _assert_page(response: httpx.Response, status: int, said: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    text = response.text
    assert 'href="/static/css/base.css"' in text and 'class="topbar"' in text, "the site's layout"
    assert said in text
    assert 'id="missing-back"' in text and 'href="/runs"' in text and 'href="/"' in text, "a way back"


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("/runs/999", "no run 999"),
        ("/compare/999", "no comparison 999 (or one of its runs is gone)"),
        ("/sweeps/999", "no sweep 999"),
        ("/runs/compare?run=998&run=999", "no run 998, 999"),
        ("/runs/999/report", "no run 999"),
        ("/runs/abc", "There is no run abc: a run&#39;s id is a whole number."),
        ("/sweeps/1.5", "There is no sweep 1.5"),
        ("/nowhere", "Nothing is at /nowhere."),
    ],
)
def test_a_stale_link_in_a_browser_is_a_page_with_the_way_back(tmp_path: Path, path: str, said: str) -> None:
    (response,) = _get(tmp_path, (path, BROWSER))
    _assert_page(response, 404, said)


def test_the_id_in_the_address_is_said_as_text_never_markup(tmp_path: Path) -> None:
    for response in _get(tmp_path, (f"/runs/{PAYLOAD}", BROWSER), (f"/nowhere/{PAYLOAD}", BROWSER)):
        assert response.status_code == 404
        assert "<img" not in response.text
        assert "&lt;img src=x onerror=alert(1)&gt;" in response.text


def test_json_clients_keep_their_json_errors(tmp_path: Path) -> None:
    api, asked_json, api_bad_id, script_bad_id, htmx, curl = _get(
        tmp_path,
        ("/api/runs/999", BROWSER),
        ("/runs/999", {"Accept": "application/json"}),
        ("/api/runs/abc", BROWSER),
        ("/runs/abc", {"Accept": "*/*"}),
        ("/sweeps/abc", BROWSER | {"HX-Request": "true"}),
        ("/runs/999", {"Accept": "*/*"}),
    )
    assert (api.status_code, api.json()) == (404, {"detail": "no run 999"})
    assert (asked_json.status_code, asked_json.json()) == (404, {"detail": "no run 999"})
    for bad in (api_bad_id, script_bad_id, htmx):
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/json")
        (error,) = bad.json()["detail"]
        assert error["input"] == "abc" and "integer" in error["msg"], error
    # A page's route followed without a preference answers as the page it is.
    _assert_page(curl, 404, "no run 999")


def test_an_unreadable_store_is_a_page_in_a_browser_and_text_to_a_script(tmp_path: Path) -> None:
    def delete_store(_app: FastAPI) -> None:
        # The store's file deleted under the running dashboard: every read of it fails.
        (tmp_path / "runs.sqlite3").unlink()

    page, text, api, live = _get(
        tmp_path,
        ("/runs", BROWSER),
        ("/runs", {"Accept": "*/*"}),
        ("/api/runs", BROWSER),
        ("/", BROWSER),
        prepare=delete_store,
    )
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert "Recorded runs cannot be shown until the store is back" in page.text
    assert "The run store is unavailable" in page.text and 'class="topbar"' in page.text
    # The runs pages fail too: the way back is the live page, and no link leads to /runs.
    assert 'id="missing-back"' in page.text and 'href="/runs"' not in page.text
    assert text.status_code == 503 and text.headers["content-type"].startswith("text/plain")
    assert api.status_code == 503 and "detail" in api.json()
    assert live.status_code == 200, "the live dashboard still works"


def test_a_refusal_followed_in_a_browser_is_a_page_that_says_why(tmp_path: Path) -> None:
    """What every route's ConnscopeError meets (409): a page for a browser's navigation,
    the message as text, never markup; text for a script. The refusing route is the test's
    own, the handler and the middleware in front of it the app's."""

    def refuse() -> None:
        raise ConnscopeError(f"cannot start: {PAYLOAD}")

    def add_refusing_route(app: FastAPI) -> None:
        app.add_api_route("/refusing", refuse)

    page, text = _get(tmp_path, ("/refusing", BROWSER), ("/refusing", {"Accept": "*/*"}), prepare=add_refusing_route)
    _assert_page(page, 409, "cannot start: &lt;img src=x onerror=alert(1)&gt;")
    assert "This cannot be done now" in page.text and "<img" not in page.text
    assert text.status_code == 409 and text.text == f"cannot start: {PAYLOAD}"
