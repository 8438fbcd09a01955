"""The target form shows the chosen server's own settings only: another engine's fields are
hidden and not sent, live as the server select changes, in real Chromium against real targets."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.support import start_target

# uvicorn's and gunicorn's settings Granian does not take, and Granian's own.
NOT_GRANIANS = (
    "limit_concurrency",
    "timeout_keep_alive",
    "limit_max_requests",
    "http",
    "max_requests",
    "gunicorn_timeout",
    "graceful_timeout",
    "keep_alive_timeout",
)
GRANIANS = ("backpressure", "http1_keep_alive", "backlog", "workers", "loop")
SHARED = ("handler", "handler_ms", "somaxconn")


def _shown(page: Any, name: str) -> tuple[bool, bool]:
    """(visible, enabled) of the target form's field `name`."""
    control = page.locator(f"#target-{name}")
    return control.is_visible(), control.is_enabled()


def _targets(url: str) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = httpx.get(f"{url}/api/targets", timeout=10).json()
    return targets


@pytest.mark.browser
@pytest.mark.target
def test_switching_a_gunicorn_target_to_granian_shows_granians_fields_and_starts_it(dashboard: str, page: Any) -> None:
    gunicorn = start_target(dashboard, {"server": "gunicorn", "limit_concurrency": 3, "handler_ms": 50})
    page.goto(dashboard)
    page.wait_for_function("() => window.htmx !== undefined", timeout=15_000)
    page.wait_for_selector(f'#target-status[data-target-id="{gunicorn["id"]}"]', timeout=15_000)
    # The form is the running gunicorn target's: its limit shows, Granian's backpressure not.
    assert page.input_value("#target-server") == "gunicorn"
    assert page.input_value("#target-limit_concurrency") == "3"
    assert _shown(page, "limit_concurrency") == (True, True)
    assert _shown(page, "gunicorn_timeout") == (True, True)
    assert _shown(page, "backpressure") == (False, False)
    assert _shown(page, "limit_max_requests") == (False, False), "uvicorn's own, not gunicorn's"

    page.select_option("#target-server", "granian")
    for name in NOT_GRANIANS:
        assert _shown(page, name) == (False, False), name
    for name in GRANIANS + SHARED:
        assert _shown(page, name) == (True, True), name
    page.fill("#target-backpressure", "2")

    # The share link carries what Start sends: Granian's settings, not gunicorn's limit.
    page.click("#copy-link")
    page.wait_for_function("() => document.querySelector('#share-url').value.startsWith('http')", timeout=5_000)
    link = page.input_value("#share-url")
    query = dict(parse_qsl(urlsplit(link).query, keep_blank_values=True))
    assert query["t.server"] == "granian" and query["t.backpressure"] == "2"
    assert not {f"t.{name}" for name in NOT_GRANIANS} & query.keys(), query
    page.keyboard.press("Escape")

    page.click("#target-form button[type=submit]")
    deadline = time.monotonic() + 60
    started = None
    while started is None and time.monotonic() < deadline:
        started = next((t for t in _targets(dashboard) if t["id"] > gunicorn["id"] and t["state"] != "starting"), None)
        time.sleep(0.2)
    assert started is not None, "no Granian target within 60 s"
    assert started["state"] == "ready", started
    assert started["settings"]["server"] == "granian"
    assert started["settings"]["backpressure"] == 2
    assert started["settings"]["limit_concurrency"] is None
    # The panel swapped in after the start is the Granian target's, shown Granian's way.
    page.wait_for_function(
        "() => document.querySelector('#target-panel [data-server]')?.dataset.server === 'granian'", timeout=15_000
    )
    assert page.locator("#target-panel .error").count() == 0
    assert page.locator("#target-panel .field--invalid").count() == 0
    assert _shown(page, "backpressure") == (True, True)
    assert _shown(page, "limit_concurrency") == (False, False)

    # The link opens with Granian chosen and its fields shown, gunicorn's hidden.
    page.goto(link)
    page.wait_for_function("() => window.htmx !== undefined", timeout=15_000)
    assert page.input_value("#target-server") == "granian"
    assert page.input_value("#target-backpressure") == "2"
    assert _shown(page, "backpressure") == (True, True)
    assert _shown(page, "limit_concurrency") == (False, False)
    assert page.locator(".field--invalid").count() == 0
    httpx.delete(f"{dashboard}/api/targets/{started['id']}", timeout=30)
