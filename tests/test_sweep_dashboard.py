"""A sweep started from the dashboard: the form with lists and inline errors, its page
filling in while cells run (real targets, real Chromium), stopping, and /runs listing it."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.support import start_target

pytestmark = [pytest.mark.browser, pytest.mark.target]

FORM = {
    "limit_concurrency": "3,none",
    "handler_ms": "800",
    "loop": "asyncio",
    "connections": "6",
    "pattern": "rate",
    "rate": "10",
    "repeat": "1",
}


def wait_sweep(url: str, sweep_id: int, seconds: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data: dict[str, Any] = httpx.get(f"{url}/api/sweeps/{sweep_id}", timeout=10).json()
        if not data["progress"]["live"]:
            return data
        time.sleep(0.3)
    raise TimeoutError(f"sweep {sweep_id} not done in {seconds} s")


def test_a_bad_list_value_is_shown_beside_its_field_and_nothing_stops(dashboard: str) -> None:
    target = start_target(dashboard, {"handler_ms": 10})
    response = httpx.post(f"{dashboard}/sweeps", data=FORM | {"limit_concurrency": "3,x"}, timeout=10)
    assert response.status_code == 422
    assert 'id="sweep-limit_concurrency-error"' in response.text
    assert "x: Enter a whole number." in response.text
    # Every mistake at once, each beside its own field, the good values kept.
    several = httpx.post(
        f"{dashboard}/sweeps",
        data=FORM | {"limit_concurrency": "3,x", "backlog": "16,-1", "repeat": "0", "handler_ms": "5,10"},
        timeout=10,
    )
    assert several.status_code == 422
    for name in ("limit_concurrency", "backlog", "repeat"):
        assert f'id="sweep-{name}-error"' in several.text, name
    assert 'id="sweep-handler_ms-error"' not in several.text and 'value="5,10"' in several.text
    over = httpx.post(f"{dashboard}/sweeps", data=FORM | {"backlog": "1,2,3,4,5,6,7,8,9", "repeat": "8"}, timeout=10)
    assert over.status_code == 422 and "144 runs in one sweep (cells × repeats) is over the cap of 64" in over.text
    assert httpx.get(f"{dashboard}/api/targets/{target['id']}", timeout=10).json()["state"] == "ready"


def test_a_sweep_from_the_page_fills_in_and_is_listed(dashboard: str, page: Any) -> None:
    target = start_target(dashboard, {"handler_ms": 3000, "loop": "asyncio"})
    fired = httpx.post(f"{dashboard}/api/targets/{target['id']}/bursts", json={"connections": 2}, timeout=10)
    assert fired.status_code == 202, fired.text

    errors: list[str] = []
    # The CDN is unreachable here (the page falls back to the local copies): any other error counts.
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "ERR_FAILED" not in m.text else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{dashboard}/sweeps/new")
    for name, value in FORM.items():
        page.fill(f"#sweep-{name}", value)
    page.click("#start-sweep")
    page.wait_for_url("**/sweeps/*", timeout=30_000)
    sweep_id = int(page.url.rsplit("/", 1)[1])
    # The page fills in as cells end: the plot is drawn, then the sweep is done.
    page.wait_for_selector(".sweep-plot__chart canvas", timeout=30_000)
    page.wait_for_function("() => document.body?.dataset.sweepState === 'done'", timeout=90_000)
    rows = page.locator("#sweep-table tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).locator("td").nth(0).inner_text() == "3"
    assert rows.nth(1).locator("td").nth(0).inner_text() == "none"
    assert errors == [], errors

    data = wait_sweep(dashboard, sweep_id)
    assert [(c["figures"][0]["ok"], c["figures"][0]["rejected"]) for c in data["cells"]] == [(2, 4), (6, 0)]
    # The burst in flight on the target the sweep replaced was recorded, saying why it ended.
    cut = httpx.get(f"{dashboard}/api/targets/{target['id']}/bursts/{fired.json()['id']}", timeout=10).json()
    assert cut["done"] and cut["cancelled"] == f"superseded by sweep {sweep_id}"
    listing = httpx.get(f"{dashboard}/runs", timeout=10).text
    assert f'href="/sweeps/{sweep_id}"' in listing
    run_ids = [r for c in data["cells"] for r in c["run_ids"]]
    assert all(f">sweep {sweep_id}</a>" in listing for _ in run_ids) and len(run_ids) == 2


def test_a_running_sweep_stops_and_says_so(dashboard: str) -> None:
    response = httpx.post(
        f"{dashboard}/sweeps", data=FORM | {"handler_ms": "2000", "repeat": "3"}, timeout=30, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    sweep_id = int(response.headers["location"].rsplit("/", 1)[1])
    again = httpx.post(f"{dashboard}/sweeps", data=FORM, timeout=10)
    assert again.status_code == 409 and "one sweep at a time" in again.text
    refused = httpx.post(f"{dashboard}/api/targets", json={}, timeout=10)
    assert refused.status_code == 409 and f"sweep {sweep_id} is running" in refused.text
    # Stopped while a burst is in flight (its target up, its connections under way).
    deadline = time.monotonic() + 30
    while not httpx.get(f"{dashboard}/api/sweeps/{sweep_id}", timeout=10).json()["progress"].get("connections"):
        assert time.monotonic() < deadline, "no burst in flight in 30 s"
        time.sleep(0.1)
    stopped = httpx.post(f"{dashboard}/sweeps/{sweep_id}/stop", timeout=30)
    assert stopped.status_code in (200, 303)
    data = wait_sweep(dashboard, sweep_id, 30)
    assert data["sweep"]["state"] == "stopped"
    assert data["sweep"]["runs_done"] < data["sweep"]["runs_planned"]
    # The run in flight was recorded as cut short, and left out of its cell's figures.
    cut = data["sweep"]["cut_short"]
    run = httpx.get(f"{dashboard}/api/runs/{cut['run_id']}", timeout=10).json()
    assert run["cancelled"] == cut["cancelled"] == "stopped from the dashboard"
    assert cut["run_id"] not in [r for c in data["cells"] for r in c["run_ids"]]
