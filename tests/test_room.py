"""The dashboard on a 1024×768 projector, in real headless Chromium (Debian's): nothing runs off
the screen, the lanes are in the first screenful, presenter mode keeps every tool and every
outcome bin on the screen, and the browser's default font size (a room's larger type) scales
the page. Run with a target, a recorded run and a guided scenario's story, as in a talk."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

from tests.support import CDN_HOST, start_target, wait_burst, wait_run_id

pytestmark = [pytest.mark.browser, pytest.mark.target]

PROJECTOR = {"width": 1024, "height": 768}
DEFAULT_FONT = 16
LARGE_FONT = 20  # a user's 125 % default font, as a room's back rows ask for
MIN_NAME_PX = 12


def _screen(browser: Any, font: int) -> tuple[Any, Any]:
    context = browser.new_context(viewport=PROJECTOR)
    page = context.new_page()
    if font != DEFAULT_FONT:
        # The browser's own default font size (its settings page), not a zoom or a style sheet.
        cdp = context.new_cdp_session(page)
        cdp.send("Page.setFontSizes", {"fontSizes": {"standard": font, "fixed": font}})
    page.route(f"https://{CDN_HOST}/**", lambda route: route.abort())
    return context, page


@pytest.fixture(params=[DEFAULT_FONT, LARGE_FONT], ids=["16px", "20px"])
def projector(request: pytest.FixtureRequest, browser: Any) -> Iterator[Any]:
    context, page = _screen(browser, request.param)
    yield page
    context.close()


@pytest.fixture(scope="module")
def recorded(dashboard: str) -> int:
    """A target that turns most of a burst away (503) and times one out, and its recorded run."""
    target = start_target(dashboard, {"limit_concurrency": 2, "backlog": 8, "handler_ms": 1500, "loop": "asyncio"})
    burst = httpx.post(
        f"{dashboard}/api/targets/{target['id']}/bursts",
        json={"connections": 12, "pattern": "rate", "rate": 40, "client_timeout_s": 1},
        timeout=10,
    ).json()
    wait_burst(dashboard, target["id"], burst["id"])
    return wait_run_id(dashboard, target["id"])


@pytest.fixture(scope="module")
def compared(dashboard: str) -> int:
    """A recorded comparison: limit 1 against no limit."""
    started = httpx.post(
        f"{dashboard}/api/comparisons",
        json={
            "a": {"limit_concurrency": 1, "handler_ms": 200, "loop": "asyncio"},
            "b": {"handler_ms": 200, "loop": "asyncio"},
            "burst": {"connections": 4, "pattern": "rate", "rate": 20},
        },
        timeout=120,
    ).json()
    deadline = time.monotonic() + 60
    while (live := httpx.get(f"{dashboard}/api/comparisons/live/{started['id']}", timeout=10).json())[
        "record_id"
    ] is None:
        assert live["state"] != "failed" and time.monotonic() < deadline, live
        time.sleep(0.2)
    return int(live["record_id"])


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => document.fonts.status === 'loaded'", timeout=10_000)


def _no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways: {width}"


def _rects(page: Any, selector: str) -> list[dict[str, Any]]:
    """Every rendered element's box and what names it."""
    rects: list[dict[str, Any]] = page.eval_on_selector_all(
        selector,
        "els => els.filter(e => e.getClientRects().length).map(e => { const r = e.getBoundingClientRect();"
        " const t = document.createRange(); t.selectNodeContents(e);"
        " return {what: e.id || e.dataset.lane || e.textContent.trim(), left: r.left, top: r.top,"
        " right: r.right, bottom: r.bottom, cut: t.getBoundingClientRect().width > e.clientWidth,"
        " px: parseFloat(getComputedStyle(e).fontSize)} })",
    )
    return rects


def _inside(box: Mapping[str, Any], frame: Mapping[str, float]) -> bool:
    return bool(
        box["left"] >= frame["left"] - 0.5
        and box["top"] >= frame["top"] - 0.5
        and box["right"] <= frame["right"] + 0.5
        and box["bottom"] <= frame["bottom"] + 0.5
    )


VIEWPORT_FRAME: dict[str, float] = {"left": 0, "top": 0, "right": PROJECTOR["width"], "bottom": PROJECTOR["height"]}


def _assert_top_bar_on_screen(page: Any, tools: int = 6) -> None:
    shown = _rects(page, ".topbar button, .topbar a:not(.brand__home)")
    assert len(shown) >= tools, shown
    off = [t for t in shown if not _inside(t, VIEWPORT_FRAME)]
    assert not off, f"top-bar tools off the screen: {off}"


def _assert_names_readable(page: Any, views: int = 1) -> None:
    """Every lane's name whole, and not shrunk past reading to fit."""
    names = _rects(page, ".lane-name")
    assert len(names) == 6 * views, names
    assert not [n for n in names if n["cut"] or n["px"] < MIN_NAME_PX], f"lane names cut or tiny: {names}"


def _assert_lanes_readable_and_bins_inside(page: Any) -> None:
    stage = page.evaluate(
        "() => { const r = document.querySelector('#stage').getBoundingClientRect();"
        " return {left: r.left, top: r.top, right: r.right, bottom: r.bottom} }"
    )
    assert _inside(stage, VIEWPORT_FRAME), stage
    _assert_names_readable(page)
    bins = _rects(page, ".lane-label--bin")
    assert {"ok", "rejected", "error", "refused", "reset", "timeout"} <= {b["what"] for b in bins}, bins
    off = [b for b in bins if not _inside(b, stage)]
    assert not off, f"outcome bins' labels outside the lanes: {off} (stage {stage})"
    drawing = page.evaluate("() => window.connscope.view.describe()")
    for key in (b["what"] for b in bins):
        area = drawing["lanes"][key]["area"]
        assert area["y"] >= 0 and area["y"] + area["h"] <= drawing["height"] + 0.5, (key, area, drawing["height"])


def test_normal_mode_at_1024_shows_the_lanes_in_the_first_screenful(
    dashboard: str, recorded: int, projector: Any
) -> None:
    page = projector
    _open(page, dashboard)
    page.wait_for_selector("#target-status[data-target-id]", timeout=15_000)
    _no_sideways_scroll(page)
    _assert_top_bar_on_screen(page)
    # The live view is what people came to watch: the lanes, whole, before any form.
    _assert_lanes_readable_and_bins_inside(page)
    assert page.locator("#target-panel").is_visible()


def test_presenter_mode_at_1024_keeps_every_tool_and_every_outcome_bin_on_the_screen(
    dashboard: str, recorded: int, projector: Any
) -> None:
    page = projector
    _open(page, f"{dashboard}/?present=1")
    page.wait_for_selector("#target-status[data-target-id]", timeout=15_000)
    page.wait_for_function("() => !document.querySelector('#replay-last').hidden", timeout=15_000)
    _no_sideways_scroll(page)
    _assert_top_bar_on_screen(page)
    _assert_lanes_readable_and_bins_inside(page)
    # Its notice keeps to the name's row: it had covered the tools it names for seconds.
    page.keyboard.press("p")
    page.keyboard.press("p")
    page.wait_for_selector("#announcer.toast--shown", timeout=5_000)
    toast = _rects(page, "#announcer")[0]
    tools = _rects(page, ".topbar__tools button, .topbar__tools a")
    covered = [t["what"] for t in tools if not (t["right"] <= toast["left"] or toast["right"] <= t["left"]
               or t["bottom"] <= toast["top"] or toast["bottom"] <= t["top"])]  # fmt: skip
    assert not covered, f"the notice covers {covered}"

    # A guided scenario, as in a talk: its story takes a strip under the lanes, which get shorter.
    page.keyboard.press("1")
    page.locator(".scenario-story [data-finding]").wait_for(state="visible", timeout=60_000)
    page.wait_for_timeout(300)  # the lanes follow their stage's new size (a ResizeObserver)
    assert page.locator(".scenario-story").is_visible()
    _no_sideways_scroll(page)
    _assert_top_bar_on_screen(page)
    _assert_lanes_readable_and_bins_inside(page)


def test_runs_list_at_1024_fits_without_a_sideways_scroll(dashboard: str, recorded: int, projector: Any) -> None:
    page = projector
    _open(page, f"{dashboard}/runs")
    assert page.locator(f'tr[data-run="{recorded}"]').is_visible()
    _no_sideways_scroll(page)
    scrolls = page.eval_on_selector_all(".runs__scroll", "els => els.map(e => [e.scrollWidth, e.clientWidth])")
    assert scrolls and all(width <= shown for width, shown in scrolls), scrolls


def test_a_comparison_at_1024_shows_both_views_whole(dashboard: str, compared: int, projector: Any) -> None:
    page = projector
    _open(page, f"{dashboard}/compare/{compared}")
    page.wait_for_function("() => document.querySelectorAll('.lane-name').length === 12", timeout=15_000)
    _no_sideways_scroll(page)
    _assert_top_bar_on_screen(page, tools=3)
    _assert_names_readable(page, views=2)


def test_the_compare_forms_sides_show_their_servers_fields_and_whole_choices_at_1024(
    dashboard: str, projector: Any
) -> None:
    """Each side shows its own server's settings (every engine's showed on both), and each
    select its choice whole ("httptools" read "httptool"), Granian's longest too."""
    page = projector
    _open(page, f"{dashboard}/compare")
    page.select_option("#a-server", "granian")
    # Each side shows its own server's settings, as the live page's target form does.
    assert page.locator("#a-backpressure").is_visible() and not page.locator("#a-limit_concurrency").is_visible()
    assert page.locator("#b-limit_concurrency").is_visible() and not page.locator("#b-backpressure").is_visible()
    cut = page.eval_on_selector_all(
        ".compare-form select",
        """els => els.filter(e => e.getClientRects().length).filter(e => {
             const c = document.createElement('canvas').getContext('2d');
             c.font = getComputedStyle(e).font;
             return c.measureText(e.options[e.selectedIndex].text).width + 28 > e.clientWidth;
           }).map(e => [e.id, e.options[e.selectedIndex].text, e.clientWidth])""",
    )
    assert cut == [], f"choices cut short: {cut}"


def test_the_browsers_default_font_size_scales_the_page(dashboard: str, browser: Any) -> None:
    sizes = {}
    for font in (DEFAULT_FONT, LARGE_FONT):
        context, page = _screen(browser, font)
        try:
            _open(page, dashboard)
            sizes[font] = page.evaluate(
                "() => [document.body, document.querySelector('.panel__head h2'), document.querySelector('.legend')]"
                ".map(e => parseFloat(getComputedStyle(e).fontSize))"
            )
        finally:
            context.close()
    for small, large in zip(sizes[DEFAULT_FONT], sizes[LARGE_FONT], strict=True):
        assert large == pytest.approx(small * LARGE_FONT / DEFAULT_FONT, rel=0.02), sizes
