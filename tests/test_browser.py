"""The dashboard in real headless Chromium (Debian's), driven by Playwright's Python package."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import CDN_HOST, ROOT, serve_dashboard, wait_burst

pytestmark = [pytest.mark.browser, pytest.mark.target]

ARTIFACTS = ROOT / "test-artifacts"


def _ready(page: Any) -> None:
    page.wait_for_function("() => window.htmx !== undefined && window.uPlot !== undefined", timeout=15_000)


def _count(page: Any, name: str) -> str:
    return str(page.locator(f'[data-count="{name}"]').first.get_attribute("data-value"))


def _lane(page: Any, key: str) -> Any:
    return page.locator(f'[data-lane="{key}"]').first


def test_start_fire_and_the_page_shows_what_the_run_counted(dashboard: str, page: Any) -> None:
    page.goto(dashboard)
    _ready(page)
    page.fill("#target-limit_concurrency", "3")
    page.select_option("#target-handler", "async")
    page.fill("#target-handler_ms", "800")
    page.select_option("#target-loop", "asyncio")
    page.click("#target-form button[type=submit]")
    page.wait_for_selector('#target-panel [data-target-state="ready"]', timeout=30_000)

    page.fill("#burst-connections", "6")
    page.select_option("#burst-pattern", "rate")
    page.fill("#burst-rate", "10")
    page.click("#fire")
    page.wait_for_selector('#burst-progress li[data-done="true"]', timeout=60_000)

    target = httpx.get(f"{dashboard}/api/targets", timeout=10).json()[-1]
    burst = target["bursts"][-1]
    result = wait_burst(dashboard, target["id"], burst["id"])
    totals = result["totals"]
    assert (totals["ok"], totals["rejected"]) == (2, 4)

    page.wait_for_function(
        "n => document.querySelector('[data-count=\"requests\"]').dataset.value === String(n)",
        arg=totals["requests"],
        timeout=15_000,
    )
    for outcome in ("ok", "rejected", "error", "refused", "reset", "timeout"):
        assert _count(page, outcome) == str(totals[outcome]), outcome
        assert _lane(page, outcome).inner_text().strip() == str(totals[outcome]), f"{outcome} bin"
    assert _count(page, "closed") == "6"
    assert _count(page, "slots") == "3"
    assert _lane(page, "slots").get_attribute("data-capacity") == "3"
    assert _lane(page, "backlog").get_attribute("data-capacity") == str(result["accept_queue_capacity"])
    assert _count(page, "queue-capacity") == str(result["accept_queue_capacity"])
    assert _count(page, "peak-active") == str(result["peaks"]["active"])

    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#live-view").screenshot(path=str(ARTIFACTS / "live-view.png"))


def test_a_live_connections_tip_shows_its_client_kind_and_its_requests_paths(dashboard: str, page: Any) -> None:
    target = httpx.post(
        f"{dashboard}/api/targets", json={"handler": "async", "handler_ms": 20, "loop": "asyncio"}, timeout=60
    ).json()
    page.goto(dashboard)
    _ready(page)
    fired = httpx.post(
        f"{dashboard}/api/targets/{target['id']}/bursts",
        json={
            "connections": 4,
            "pattern": "rate",
            "rate": 20,
            "mix": "normal:50,slow:50",
            "slow_s": 0.3,
            "paths": "/a:50,/b:50",
            "seed": 3,
        },
        timeout=10,
    ).json()
    result = wait_burst(dashboard, target["id"], fired["id"])
    page.wait_for_function(
        "n => document.querySelector('[data-count=\"requests\"]').dataset.value === String(n)",
        arg=result["totals"]["requests"],
        timeout=15_000,
    )
    assert {c["client"] for c in result["connections"]} == {"normal", "slow"}
    box = page.locator("#lanes").bounding_box()
    tip = page.locator("#dot-tip")
    for connection in result["connections"]:
        dot = page.evaluate("cid => window.connscope.view.dotPosition(cid)", connection["id"])
        page.mouse.move(box["x"] + dot["x"], box["y"] + dot["y"])
        # The tip fetches the connection from the API once the pointer rests on it.
        tip.locator(".tip-requests").wait_for(timeout=5_000)
        assert tip.locator(".dot-tip__head strong").inner_text() == f"connection {connection['id']}"
        assert tip.locator("[data-client]").get_attribute("data-client") == connection["client"]
        assert tip.locator(".tip-requests__path").all_inner_texts() == [r["path"] for r in connection["requests"]]
        page.mouse.move(0, 0)
        tip.wait_for(state="hidden", timeout=5_000)


def test_a_bad_value_shows_the_inline_error_and_keeps_the_target(dashboard: str, page: Any) -> None:
    started = httpx.post(f"{dashboard}/api/targets", json={"loop": "asyncio"}, timeout=60).json()
    page.goto(dashboard)
    _ready(page)
    page.fill("#target-backlog", "0")
    page.click("#target-form button[type=submit]")
    error = page.locator("#target-backlog-error")
    error.wait_for(timeout=10_000)
    assert error.inner_text() == "Must be at least 1."
    assert page.locator("#target-backlog").get_attribute("aria-invalid") == "true"
    still = httpx.get(f"{dashboard}/api/targets/{started['id']}", timeout=10).json()
    assert still["state"] == "ready" and still["pid"] == started["pid"]


def test_page_works_without_internet_from_local_copies(dashboard: str, page: Any) -> None:
    asked_cdn: list[str] = []
    page.on("request", lambda request: asked_cdn.append(request.url) if CDN_HOST in request.url else None)
    page.goto(dashboard)
    _ready(page)
    loaded = page.evaluate(
        "() => performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/vendor/'))"
    )
    assert any(url.endswith("/vendor/htmx.org/dist/htmx.min.js") for url in loaded)
    assert any(url.endswith("/vendor/uplot/dist/uPlot.iife.min.js") for url in loaded)
    assert asked_cdn, "the CDN is tried first when not --offline"


def test_offline_mode_never_asks_the_cdn(page: Any) -> None:
    with serve_dashboard("--offline") as url:
        asked_cdn: list[str] = []
        page.on("request", lambda request: asked_cdn.append(request.url) if CDN_HOST in request.url else None)
        page.goto(url)
        _ready(page)
        assert asked_cdn == []


def test_api_docs_render_without_internet(dashboard: str, page: Any) -> None:
    page.goto(f"{dashboard}/docs")
    page.locator(".swagger-ui .opblock").first.wait_for(timeout=15_000)
    assert page.locator(".swagger-ui .opblock").count() >= 8
    assert "connscope" in page.locator(".swagger-ui .title").inner_text()
