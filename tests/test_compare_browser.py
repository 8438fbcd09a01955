"""The compare pages in real headless Chromium: two live views and the table, and two
recorded runs replayed in lockstep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import CDN_HOST, ROOT
from tests.test_compare import BURST, SLOW, compare

pytestmark = [pytest.mark.browser, pytest.mark.target]

ARTIFACTS = ROOT / "test-artifacts"
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def _watch(page: Any) -> list[str]:
    """Console errors, page errors and CSP violations, as they come (the CDN, cut off by the
    `page` fixture, fails by design: the local copies are loaded instead)."""
    problems: list[str] = []
    page.add_init_script(WATCH_CSP)

    def console(message: Any) -> None:
        if message.type == "error" and CDN_HOST not in str(message.location):
            problems.append(f"{message.text} {message.location}")

    page.on("console", console)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    return problems


def _count(page: Any, side: str, name: str) -> int:
    return int(page.locator(f'#{side}-live-view [data-count="{name}"]').get_attribute("data-value"))


def test_the_compare_page_shows_two_live_views_and_the_table(dashboard: str, page: Any) -> None:
    problems = _watch(page)
    page.goto(f"{dashboard}/compare")
    page.wait_for_function("() => window.htmx !== undefined && window.connscopeCompare !== undefined", timeout=15_000)
    page.fill("#a-limit_concurrency", "1")
    # Only the differing field is marked.
    assert page.locator("#a-limit_concurrency").evaluate("e => e.closest('.field').classList.contains('differs')")
    assert not page.locator("#a-backlog").evaluate("e => e.closest('.field').classList.contains('differs')")
    for side in ("a", "b"):
        page.fill(f"#{side}-handler_ms", str(SLOW["handler_ms"]))
        page.select_option(f"#{side}-loop", SLOW["loop"])
    page.fill("#burst-connections", str(BURST["connections"]))
    page.select_option("#burst-pattern", BURST["pattern"])
    page.fill("#burst-rate", str(BURST["rate"]))
    # The live page, where an audience follows along, says where the comparison is watched
    # while it runs: it had shown "No target yet" through the whole comparison.
    home = page.context.new_page()
    home.goto(f"{dashboard}/")
    home.wait_for_selector("#empty-state:not([hidden])", timeout=15_000)
    # The two live views come up as it starts: on a projector they had stayed a long scroll
    # under the form.
    page.set_viewport_size({"width": 1024, "height": 768})
    page.click("#compare-start")
    page.wait_for_function(
        "() => { const top = document.querySelector('.compare-sides').getBoundingClientRect().top;"
        " return top > -2 && top < innerHeight / 3 }",
        timeout=15_000,
    )
    page.set_viewport_size({"width": 1600, "height": 1000})
    home.wait_for_selector('#empty-state[data-reason="elsewhere"]', timeout=15_000)
    assert home.locator("#empty-title").inner_text() == "The dashboard is running a comparison"
    link = home.locator("#empty-link")
    assert link.is_visible() and link.inner_text() == "Watch the comparison →"
    assert link.get_attribute("href") == "/compare"
    page.wait_for_selector('#compare-status[data-state="done"]', timeout=90_000)
    page.wait_for_selector("#diff-table", timeout=10_000)
    # Once it has ended the presenter is not held on it: the page asks for a target again.
    home.wait_for_selector('#empty-state[data-reason="no-target"]', timeout=15_000)
    assert link.is_hidden()
    home.close()

    status = page.locator("#compare-status")
    target_a, target_b = status.get_attribute("data-target-a"), status.get_attribute("data-target-b")
    live = httpx.get(f"{dashboard}/api/comparisons/live/{status.get_attribute('data-comparison')}", timeout=10).json()
    assert (target_a, target_b) == (str(live["a"]["id"]), str(live["b"]["id"]))
    # Each view follows its own side's target, and counts what that target did.
    for side, target in (("a", target_a), ("b", target_b)):
        page.wait_for_function(
            "([side, id]) => document.getElementById(`${side}-live-view`).dataset.target === id",
            arg=[side, target],
            timeout=10_000,
        )
        page.wait_for_function(
            "side => document.querySelector(`#${side}-live-view [data-count=requests]`).dataset.value === '4'",
            arg=side,
            timeout=15_000,
        )
    assert (_count(page, "a", "rejected"), _count(page, "a", "ok")) == (4, 0)
    assert (_count(page, "b", "rejected"), _count(page, "b", "ok")) == (0, 4)
    assert page.locator('#a-live-view [data-lane="rejected"]').inner_text().strip() == "4"
    assert page.locator('#b-live-view [data-lane="ok"]').inner_text().strip() == "4"
    assert page.locator('#diff-table tr[data-metric="rejected_pct"]').get_attribute("data-better") == "b"
    assert page.locator("#settings-diff tr[data-differs]").count() == 1
    # Both targets stop once the comparison is recorded: their views no longer show a live dot.
    for side in ("a", "b"):
        page.wait_for_function(
            "side => document.getElementById(`${side}-stream-status`).textContent.endsWith('· stopped')",
            arg=side,
            timeout=15_000,
        )
        assert page.locator(f"#{side}-stream-status").get_attribute("data-state") == "ended"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)
    assert problems + page.evaluate("() => window.__csp") == []


SIDES_ON_SCREEN = """() => [...document.querySelectorAll('.compare-side .stage')].map((stage) => {
  const box = stage.getBoundingClientRect();
  return { top: Math.round(box.top), bottom: Math.round(box.bottom), height: Math.round(box.height) };
})"""


def test_presenter_mode_gives_a_projector_both_live_views(dashboard: str, page: Any) -> None:
    """A comparison shown to a room: p hides the form and both views fill the screen, as on
    the live page; the address keeps the mode, and a page opened with it starts in it."""
    problems = _watch(page)
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(f"{dashboard}/compare")
    page.wait_for_function("() => window.connscopeCompare !== undefined", timeout=15_000)
    assert page.locator("#compare-form").is_visible()
    # Typed into a field, p is a letter, not the key.
    page.focus("#a-handler_ms")
    page.keyboard.press("p")
    assert page.evaluate("() => document.documentElement.dataset.presenter") == "off"
    page.locator("#a-handler_ms").blur()
    page.keyboard.press("p")
    page.wait_for_function("() => document.documentElement.dataset.presenter === 'on'", timeout=5_000)
    assert page.locator("#presenter-toggle").get_attribute("aria-pressed") == "true"
    assert "present=1" in page.url and page.locator("#compare-form").is_hidden()
    page.wait_for_function("() => document.getElementById('announcer').textContent === 'Presenter mode on: p leaves.'")
    # The canvases draw in the room's sizes at once (they read them once, not every frame).
    scales = "() => Object.values(window.connscopeCompare.sides).map((s) => [s.view.textScale, s.view.dotScale])"
    assert page.evaluate(scales) == [[2.2, 2.5], [2.2, 2.5]]
    # At 1024 x 768, A above B, both whole on the screen, each lane a third of it tall.
    a, b = page.evaluate(SIDES_ON_SCREEN)
    assert a["bottom"] <= b["top"] and b["bottom"] <= 768 and min(a["height"], b["height"]) >= 768 / 3, (a, b)
    assert page.locator("#a-live-view .compare-side__counts").is_hidden()
    # Side by side on a wide screen, the counters kept under the lanes.
    page.set_viewport_size({"width": 1920, "height": 1080})
    a, b = page.evaluate(SIDES_ON_SCREEN)
    assert a["top"] == b["top"] and b["bottom"] <= 1080 and a["height"] >= 1080 / 2, (a, b)
    assert page.locator("#b-live-view .compare-side__counts").is_visible()
    page.keyboard.press("f")
    assert page.evaluate("() => window.connscopeFullscreenRequests") == 1
    # The link opened on the projector's machine starts in presenter mode: no jump.
    assert 'data-presenter="on"' in httpx.get(f"{dashboard}/compare?present=1", timeout=10).text
    page.reload()
    assert page.evaluate("() => document.documentElement.dataset.presenter") == "on"
    # The button, clicked, leaves it and brings the form back; clicked again, the focus goes
    # to the live views (left on the button, a key pressed next would press it again).
    page.click("#presenter-toggle")
    assert page.locator("#compare-form").is_visible() and "present" not in page.url
    assert page.evaluate(scales) == [[1, 1], [1, 1]]
    page.click("#presenter-toggle")
    assert page.evaluate("() => document.activeElement.matches('.compare-sides[data-presenter-focus]')")
    # So does a focus that presenter mode hides with the form.
    page.keyboard.press("p")
    page.focus("#compare-start")
    page.keyboard.press("p")
    assert page.evaluate("() => document.activeElement.matches('.compare-sides[data-presenter-focus]')")
    assert problems + page.evaluate("() => window.__csp") == []


def test_two_runs_replay_in_lockstep(dashboard: str, page: Any) -> None:
    done = compare(dashboard, {**SLOW, "limit_concurrency": 1}, SLOW, BURST)
    problems = _watch(page)
    page.goto(f"{dashboard}/runs")
    page.check(f'input[name="run"][value="{done["run_a"]}"]')
    page.check(f'input[name="run"][value="{done["run_b"]}"]')
    page.click("#compare-selected")
    page.wait_for_function("() => window.connscopeLockstep !== undefined", timeout=15_000)
    # One scrub drives both sides: at the end, each shows its own run's final tally.
    end = page.evaluate("() => window.connscopeLockstep.end")
    page.locator("#lockstep-scrub").fill(str(end))
    assert int(page.locator('#a-live-view [data-count="rejected"]').get_attribute("data-value")) == 4
    assert int(page.locator('#b-live-view [data-count="ok"]').get_attribute("data-value")) == 4
    page.evaluate("() => window.connscopeLockstep.show(0)")
    assert int(page.locator('#b-live-view [data-count="requests"]').get_attribute("data-value")) == 0
    # The keys drive the shared clock: → steps to the first change of either side, Home goes back.
    first = page.evaluate(
        "() => Math.min(...window.connscopeLockstep.sides.map(s => s.compiled.changes.find(c => c > 1e-6)))"
    )
    page.locator("#lockstep-scrub").focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("() => window.connscopeLockstep.time()") == pytest.approx(first)
    shown = page.evaluate("t => `${t.toFixed(2)} ms / `", first)
    assert page.locator("#lockstep-time").text_content().startswith(shown)
    page.keyboard.press("Home")
    assert page.evaluate("() => window.connscopeLockstep.time()") == 0
    # On a projector, p (the scrubber keeps the focus) gives both canvases the room's sizes and
    # puts the transport and both views first, the report after them.
    page.keyboard.press("p")
    page.wait_for_function("() => document.documentElement.dataset.presenter === 'on'", timeout=5_000)
    assert "present=1" in page.url
    assert page.evaluate("() => window.connscopeLockstep.sides.map((s) => s.view.dotScale)") == [2.5, 2.5]
    transport, sides, report = (
        page.locator(s).bounding_box() for s in (".transport", ".compare-sides", "#compare-report")
    )
    assert transport is not None and sides is not None and report is not None
    assert transport["y"] < sides["y"] < report["y"] and sides["y"] + sides["height"] <= 1000, (transport, sides)
    page.keyboard.press("p")
    page.wait_for_function("() => document.documentElement.dataset.presenter === 'off'", timeout=5_000)
    # Opened with ?present=1, the page is rendered in it: a projector never sees it jump.
    page.goto(page.url + "&present=1")
    assert page.evaluate("() => document.documentElement.dataset.presenter") == "on"
    page.wait_for_function("() => window.connscopeLockstep !== undefined", timeout=15_000)
    page.click("#lockstep-play")
    page.wait_for_function(
        "() => Number(document.querySelector('#a-live-view [data-count=requests]').dataset.value) > 0"
        " && Number(document.querySelector('#b-live-view [data-count=requests]').dataset.value) > 0",
        timeout=20_000,
    )
    assert page.locator("#lockstep-play").get_attribute("aria-pressed") in ("true", "false")
    assert problems + page.evaluate("() => window.__csp") == []


def test_the_html_export_replays_both_sides_offline(dashboard: str, page: Any, tmp_path: Path) -> None:
    done = compare(dashboard, {**SLOW, "limit_concurrency": 1}, SLOW, BURST)
    export = httpx.get(f"{dashboard}/api/comparisons/{done['record_id']}/export", timeout=60)
    assert export.status_code == 200
    path = tmp_path / "comparison.html"
    path.write_text(export.text)
    problems = _watch(page)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if not request.url.startswith("file:") else None)
    page.goto(path.as_uri())
    page.wait_for_function("() => window.connscopeLockstep !== undefined", timeout=15_000)
    end = page.evaluate("() => window.connscopeLockstep.end")
    page.locator("#lockstep-scrub").fill(str(end))
    assert int(page.locator('#a-live-view [data-count="rejected"]').get_attribute("data-value")) == 4
    assert int(page.locator('#b-live-view [data-count="ok"]').get_attribute("data-value")) == 4
    assert page.locator('#diff-table tr[data-metric="rejected_pct"]').get_attribute("data-better") == "b"
    # Presenter mode works from the file too (it has no address to keep it in).
    page.keyboard.press("p")
    page.wait_for_function("() => document.documentElement.dataset.presenter === 'on'", timeout=5_000)
    assert page.evaluate("() => window.connscopeLockstep.sides.map((s) => s.view.dotScale)") == [2.5, 2.5]
    assert page.url == path.as_uri()
    assert asked == [] and problems + page.evaluate("() => window.__csp") == []
