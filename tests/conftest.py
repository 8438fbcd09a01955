from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.cli import raise_open_file_limit, run_async
from app.experiment import run_once
from app.result import Connection
from app.sandbox.settings import TargetSettings
from app.scenarios import BY_ID
from app.store import STORE_ENV
from app.traffic.spec import BurstSpec
from tests.support import CDN_HOST, CHROMIUM, serve_dashboard


def run_burst(target: dict[str, Any], burst: dict[str, Any]) -> dict[str, Any]:
    """One real target, one real burst, the result as `connscope run --json` gives it."""
    result = run_async(lambda: run_once(TargetSettings(**target), BurstSpec(**burst)))
    return result.model_dump(mode="json")


def run_scenario(scenario_id: str) -> tuple[dict[str, Any], str]:
    """A guided scenario on a real target: its result and the finding written from it."""
    scenario = BY_ID[scenario_id]
    result = run_async(lambda: run_once(scenario.settings, scenario.burst))
    return result.model_dump(mode="json"), scenario.finding(result)


def outcomes(result: dict[str, Any]) -> list[str]:
    """Each connection's first request outcome, in arrival order."""
    return [c["requests"][0]["outcome"] for c in result["connections"]]


def time_in(connection: dict[str, Any], state: str) -> float:
    """Milliseconds a connection of a JSON result spent in `state`, as the model counts it."""
    return Connection.model_validate(connection).time_in(state)


def state_names(connection: dict[str, Any]) -> list[str]:
    return [state for state, _ in connection["states"]]


@pytest.fixture(scope="session", autouse=True)
def _open_files() -> None:
    raise_open_file_limit()


@pytest.fixture(scope="session", autouse=True)
def _run_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Recorded runs go to a throw-away store, never the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(STORE_ENV, str(tmp_path_factory.mktemp("store") / "runs.sqlite3"))
        yield


@pytest.fixture(scope="module")
def dashboard() -> Iterator[str]:
    with serve_dashboard() as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium (installed by ./setup.sh --test), driven by Playwright's Python package.

    Per module: Playwright's sync API keeps an event loop running on this thread while it
    is open, and the tests that run targets need the thread's loop to themselves."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    # No network beyond this machine: the CDN fails fast here, as in a conference hall.
    page.route(f"https://{CDN_HOST}/**", lambda route: route.abort())
    yield page
    context.close()
