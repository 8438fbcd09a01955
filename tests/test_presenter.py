"""Presenter mode, its keys, and the share link, in real headless Chromium (Debian's)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.support import CDN_HOST, wait_burst, wait_run_id

pytestmark = [pytest.mark.browser, pytest.mark.target]

VIEWPORT = {"width": 1600, "height": 1000}

# Every field of both forms set off its default, so the round trip cannot pass by accident.
TARGET_VALUES = {
    "limit_concurrency": "7",
    "backlog": "33",
    "timeout_keep_alive": "2.5",
    "limit_max_requests": "500",
    "workers": "2",
    "http": "h11",
    "loop": "asyncio",
    "handler": "sync",
    "handler_ms": "250",
    "latency": "uniform",
    "response_bytes": "64",
    "handler_p99_ms": "900",
    "handler_mix": "async:90,blocking:10",
    "handler_seed": "12",
}
BURST_VALUES = {
    "connections": "42",
    "pattern": "ramp",
    "ramp_s": "2.5",
    "rate": "40",
    "requests_per_connection": "3",
    "pause_ms": "15",
    "client_timeout_s": "7.5",
    "path": "/slow?x=1&y=two",
    "rate_end": "80",
    "seed": "9",
    "method": "POST",
    "paths": "/:80,/api:20",
    "mix": "normal:90,slow:10",
    "slow_s": "2",
}
SELECTS = {"http", "loop", "handler", "latency", "pattern", "method"}


def _ready(page: Any) -> None:
    page.wait_for_function("() => window.htmx !== undefined && window.uPlot !== undefined", timeout=15_000)


def _open(page: Any, url: str) -> None:
    page.goto(url)
    _ready(page)


def _presenting(page: Any) -> str:
    return str(page.evaluate("() => document.documentElement.dataset.presenter"))


def _box(page: Any, selector: str) -> dict[str, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not rendered"
    return dict(box)


def _targets(url: str) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = httpx.get(f"{url}/api/targets", timeout=10).json()
    return targets


def _processes(url: str) -> set[tuple[int, int | None]]:
    """Every target the dashboard has started: (id, pid)."""
    return {(t["id"], t["pid"]) for t in _targets(url)}


def _wait_for(condition: Any, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"{what} not within {seconds} s")


def _blur(page: Any) -> None:
    """The keys work outside form fields: leave whatever field has the focus."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")


@pytest.fixture
def fresh_page(browser: Any) -> Iterator[Any]:
    """A second browser context: a colleague opening a link, with nothing shared with `page`."""
    context = browser.new_context(viewport=VIEWPORT)
    other = context.new_page()
    other.route(f"https://{CDN_HOST}/**", lambda route: route.abort())
    yield other
    context.close()


def test_p_and_the_button_toggle_presenter_mode_which_hides_the_controls_and_fills_the_screen(
    dashboard: str, page: Any
) -> None:
    _open(page, dashboard)
    assert _presenting(page) == "off"
    assert page.locator("#target-panel").is_visible()
    before = _box(page, "#live-view")
    font_before = page.evaluate("() => parseFloat(getComputedStyle(document.documentElement).fontSize)")

    page.keyboard.press("p")
    page.wait_for_function("() => document.documentElement.dataset.presenter === 'on'", timeout=5_000)
    assert page.get_attribute("#presenter-toggle", "aria-pressed") == "true"
    for hidden in ("#target-panel", "#burst-panel", "#scenario-panel", "#target-form", "#burst-form"):
        assert not page.locator(hidden).is_visible(), f"{hidden} still shown in presenter mode"
    after = _box(page, "#live-view")
    topbar = _box(page, ".topbar")
    assert after["width"] > before["width"] + 250, (before, after)
    assert after["width"] >= 0.95 * VIEWPORT["width"]
    # The view takes the whole height under the top bar (a scenario's story strip would share it).
    assert after["height"] >= 0.9 * (VIEWPORT["height"] - topbar["height"]), after
    assert after["y"] + after["height"] <= VIEWPORT["height"] + 1, "the view must fit on the screen"
    # The canvas follows its stage (a ResizeObserver): it is drawn at the new size.
    page.wait_for_function(
        "w => document.querySelector('#lanes').getBoundingClientRect().width >= w",
        arg=0.9 * after["width"],
        timeout=5_000,
    )
    font_after = page.evaluate("() => parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert font_after > font_before
    assert "present=1" in page.url, "a reload keeps presenter mode"
    page.wait_for_function(
        "() => document.getElementById('announcer').textContent === 'Presenter mode on: p leaves, ? lists the keys.'"
    )

    page.keyboard.press("p")
    page.wait_for_function("() => document.documentElement.dataset.presenter === 'off'", timeout=5_000)
    assert page.locator("#target-panel").is_visible()
    assert abs(_box(page, "#live-view")["width"] - before["width"]) < 2
    assert "present=1" not in page.url

    # Keyboard only: Tab to the top-bar button and press Enter; the focus stays on it.
    page.focus("#presenter-toggle")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.documentElement.dataset.presenter === 'on'", timeout=5_000)
    assert page.evaluate("() => document.activeElement.id") == "presenter-toggle"
    # A mouse click leaves presenter mode too.
    page.click("#presenter-toggle")
    page.wait_for_function("() => document.documentElement.dataset.presenter === 'off'", timeout=5_000)
    assert page.get_attribute("#presenter-toggle", "aria-pressed") == "false"
    # Clicked on, the focus goes to the lanes, where space fires (left on the button, space
    # would press it again); a focus that presenter mode hides with the controls goes there too.
    page.click("#presenter-toggle")
    assert page.evaluate("() => document.activeElement.id") == "lanes"
    page.keyboard.press("p")
    page.focus("#fire")
    page.keyboard.press("p")
    page.wait_for_function("() => document.documentElement.dataset.presenter === 'on'", timeout=5_000)
    assert page.evaluate("() => document.activeElement.id") == "lanes"


def test_present_1_opens_the_page_in_presenter_mode(dashboard: str, page: Any) -> None:
    _open(page, f"{dashboard}/?present=1")
    assert _presenting(page) == "on"
    assert page.get_attribute("#presenter-toggle", "aria-pressed") == "true"
    assert not page.locator("#target-panel").is_visible()
    assert _box(page, "#live-view")["width"] >= 0.95 * VIEWPORT["width"]
    assert page.locator("#fullscreen-toggle").is_visible()


def test_question_mark_shows_the_keys_with_p_r_and_f(dashboard: str, page: Any) -> None:
    _open(page, f"{dashboard}/?present=1")
    page.keyboard.press("?")
    help_dialog = page.locator("#key-help")
    help_dialog.wait_for(state="visible", timeout=5_000)
    # It opens at its heading: its autofocused Close, at the bottom, had scrolled it past.
    assert help_dialog.evaluate("e => [e.scrollHeight > e.clientHeight, e.scrollTop]") == [True, 0]
    keys = page.eval_on_selector_all("#key-help dt kbd", "els => els.map(e => e.textContent.trim())")
    for key in ("?", "p", "space", "r", "f", "1", "9", "←", "→"):
        assert key in keys, f"{key} missing from the help: {keys}"
    text = help_dialog.inner_text()
    assert "presenter mode" in text and "restart the target" in text and "fullscreen" in text
    page.keyboard.press("Escape")
    help_dialog.wait_for(state="hidden", timeout=5_000)


def test_r_restarts_the_target_with_the_same_settings_and_clears_the_view(dashboard: str, page: Any) -> None:
    settings = {"limit_concurrency": 2, "backlog": 12, "handler_ms": 50, "loop": "asyncio"}
    old = httpx.post(f"{dashboard}/api/targets", json=settings, timeout=60).json()
    assert old["state"] == "ready"
    _open(page, f"{dashboard}/?present=1")
    page.wait_for_selector(f'#target-status[data-target-id="{old["id"]}"]', timeout=15_000)
    burst = httpx.post(
        f"{dashboard}/api/targets/{old['id']}/bursts",
        json={"connections": 5, "pattern": "rate", "rate": 50},
        timeout=10,
    ).json()
    wait_burst(dashboard, old["id"], burst["id"])
    page.wait_for_function(
        "() => document.querySelector('[data-count=\"closed\"]').dataset.value === '5'", timeout=15_000
    )
    assert page.evaluate("() => window.connscope.view.connections") == 5

    page.keyboard.press("r")
    new = _wait_for(
        lambda: next((t for t in _targets(dashboard) if t["id"] > old["id"] and t["state"] == "ready"), None),
        60,
        "a restarted, ready target",
    )
    assert new["pid"] != old["pid"]
    assert new["settings"] == old["settings"], "a reset keeps the settings"
    assert httpx.get(f"{dashboard}/api/targets/{old['id']}", timeout=10).json()["state"] != "ready"
    # The page follows: the new target's badge says ready, and the view is empty again.
    page.wait_for_selector(f'#target-status[data-target-id="{new["id"]}"]', timeout=15_000)
    page.wait_for_selector('#target-badge[data-state="ready"]', timeout=15_000)
    assert page.locator("#target-badge").inner_text().strip().lower() == "ready"
    page.wait_for_function("() => window.connscope.view.connections === 0", timeout=10_000)
    assert page.get_attribute('[data-count="closed"]', "data-value") == "0"
    # The target panel (hidden in presenter mode) was swapped for the new target's.
    page.wait_for_selector('#target-panel [data-target-state="ready"]', state="attached", timeout=15_000)
    page.wait_for_function(
        "() => document.querySelector('#announcer').textContent.includes('restarted')",
        timeout=10_000,
    )


def test_f_asks_for_fullscreen_and_f_again_leaves_it(dashboard: str, page: Any) -> None:
    _open(page, f"{dashboard}/?present=1")
    assert page.evaluate("() => document.fullscreenElement") is None
    page.keyboard.press("f")
    page.wait_for_function("() => document.fullscreenElement === document.documentElement", timeout=10_000)
    assert page.evaluate("() => window.connscopeFullscreenRequests") == 1
    # The button follows the browser's fullscreenchange event.
    page.wait_for_selector('#fullscreen-toggle[aria-pressed="true"]', timeout=10_000)
    page.keyboard.press("f")
    page.wait_for_function("() => document.fullscreenElement === null", timeout=10_000)
    page.wait_for_selector('#fullscreen-toggle[aria-pressed="false"]', timeout=10_000)


def test_keys_do_nothing_while_typing_in_a_field(dashboard: str, page: Any) -> None:
    _open(page, dashboard)
    page.fill("#burst-path", "/")
    page.focus("#burst-path")
    page.keyboard.type("prf")
    assert page.input_value("#burst-path") == "/prf"
    assert _presenting(page) == "off"
    assert page.evaluate("() => document.fullscreenElement") is None


def test_share_link_round_trip_restores_every_field(dashboard: str, page: Any, fresh_page: Any) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=dashboard)
    _open(page, dashboard)
    for name, value in TARGET_VALUES.items():
        if name in SELECTS:
            page.select_option(f"#target-{name}", value)
        else:
            page.fill(f"#target-{name}", value)
    for name, value in BURST_VALUES.items():
        if name in SELECTS:
            page.select_option(f"#burst-{name}", value)
        else:
            page.fill(f"#burst-{name}", value)
    _blur(page)
    page.keyboard.press("p")
    page.wait_for_function("() => document.documentElement.dataset.presenter === 'on'", timeout=5_000)

    page.click("#copy-link")
    page.wait_for_function("() => document.querySelector('#share-url').value.startsWith('http')", timeout=5_000)
    link = page.input_value("#share-url")
    assert page.locator("#share-url").is_visible()
    assert page.get_attribute("#copy-link", "data-url") == link
    assert page.evaluate("() => navigator.clipboard.readText()") == link
    query = dict(parse_qsl(urlsplit(link).query, keep_blank_values=True))
    # The kernel knobs stay the host's here: starting with them needs a network namespace
    # (their round trip is in test_scenario_switch.py).
    knobs = {"t.somaxconn": "", "t.tcp_abort_on_overflow": "", "t.tcp_syncookies": ""}
    # The server stays uvicorn (the values above are its settings); other engines' fields are
    # hidden and disabled, so the link leaves them out and they take their defaults.
    engines = {"t.server": "uvicorn"}
    assert (
        query
        == {"present": "1"}
        | {f"t.{k}": v for k, v in TARGET_VALUES.items()}
        | {f"b.{k}": v for k, v in BURST_VALUES.items()}
        | knobs
        | engines
    )

    targets_before = _targets(dashboard)
    processes_before = _processes(dashboard)
    _open(fresh_page, link)
    assert _presenting(fresh_page) == "on"
    note = fresh_page.locator("#share-note")
    assert "Settings loaded from a shared link — press Start target" in note.inner_text()
    for name, value in TARGET_VALUES.items():
        assert fresh_page.input_value(f"#target-{name}") == value, name
    for name, value in BURST_VALUES.items():
        assert fresh_page.input_value(f"#burst-{name}") == value, name
    assert fresh_page.locator(".field--invalid").count() == 0
    assert _processes(dashboard) == processes_before, "a link must not start a process"

    # Starting it from the note runs exactly the link's target.
    last_id = max((t["id"] for t in targets_before), default=0)
    fresh_page.click("#share-start")
    started = _wait_for(
        lambda: next((t for t in _targets(dashboard) if t["id"] > last_id and t["state"] != "starting"), None),
        60,
        "the link's target",
    )
    assert started["state"] == "ready", started
    note.wait_for(state="detached", timeout=15_000)
    expected = {
        "limit_concurrency": 7,
        "backlog": 33,
        "timeout_keep_alive": 2.5,
        "limit_max_requests": 500,
        "workers": 2,
        "http": "h11",
        "loop": "asyncio",
        "handler": "sync",
        "handler_ms": 250.0,
        "latency": "uniform",
        "response_bytes": 64,
    }
    assert {k: started["settings"][k] for k in expected} == expected
    assert "t." not in fresh_page.url, "the address no longer claims the link's settings"


def test_share_link_with_bad_values_shows_inline_errors_and_starts_nothing(dashboard: str, page: Any) -> None:
    processes_before = _processes(dashboard)
    response = page.goto(f"{dashboard}/?t.backlog=0&t.loop=trio&b.connections=many&b.pattern=ramp")
    assert response is not None and response.status == 200
    _ready(page)
    error = page.locator("#target-backlog-error")
    assert error.inner_text() == "Must be at least 1."
    assert page.get_attribute("#target-backlog", "aria-invalid") == "true"
    assert page.locator("#target-loop-error").is_visible()
    assert page.locator("#burst-connections-error").is_visible()
    assert page.input_value("#burst-pattern") == "ramp", "the valid values of the link are kept"
    note = page.locator("#share-note")
    assert "Settings loaded from a shared link — press Start target" in note.inner_text()
    assert "3 values in the link are not valid" in note.inner_text()
    assert _processes(dashboard) == processes_before

    # Keyboard only: the note's button goes to the first invalid field.
    page.focus("#share-fix")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'target-backlog'", timeout=5_000)


def test_copy_link_without_the_clipboard_api_selects_the_link(dashboard: str, page: Any) -> None:
    # As on plain http from another host, where browsers offer no navigator.clipboard.
    page.add_init_script("Object.defineProperty(Navigator.prototype, 'clipboard', {get: () => undefined})")
    _open(page, dashboard)
    assert page.evaluate("() => navigator.clipboard") is None
    page.fill("#target-backlog", "77")
    page.focus("#copy-link")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'share-url'", timeout=5_000)
    link = page.input_value("#share-url")
    assert ("t.backlog", "77") in parse_qsl(urlsplit(link).query)
    selected = page.evaluate(
        "() => { const i = document.querySelector('#share-url');"
        " return i.value.slice(i.selectionStart, i.selectionEnd) }"
    )
    assert selected == link
    assert page.locator("#share-status").inner_text().strip() != ""
    page.keyboard.press("Escape")
    page.locator("#share-box").wait_for(state="hidden", timeout=5_000)
    assert page.evaluate("() => document.activeElement.id") == "copy-link"


def test_replay_steps_with_the_arrows_and_f_goes_fullscreen(dashboard: str, page: Any) -> None:
    target = httpx.post(f"{dashboard}/api/targets", json={"loop": "asyncio", "handler_ms": 20}, timeout=60).json()
    burst = httpx.post(
        f"{dashboard}/api/targets/{target['id']}/bursts",
        json={"connections": 3, "pattern": "rate", "rate": 30},
        timeout=10,
    ).json()
    wait_burst(dashboard, target["id"], burst["id"])
    # The run is stored just after the burst is done.
    run_id = wait_run_id(dashboard, target["id"])
    page.goto(f"{dashboard}/runs/{run_id}")
    page.wait_for_function("() => window.connscopeReplay !== undefined", timeout=15_000)
    assert float(page.locator("#replay-scrub").input_value()) == 0
    changes = page.evaluate("() => window.connscopeReplay.compiled.changes.filter(t => t > 1e-6)")
    assert len(changes) >= 2

    def scrubbed() -> float:
        return float(page.locator("#replay-scrub").input_value())

    page.keyboard.press("ArrowRight")
    assert scrubbed() == pytest.approx(changes[0], abs=1e-3)
    page.keyboard.press("ArrowRight")
    assert scrubbed() == pytest.approx(changes[1], abs=1e-3)
    page.keyboard.press("ArrowLeft")
    assert scrubbed() == pytest.approx(changes[0], abs=1e-3)
    page.keyboard.press("f")
    page.wait_for_function("() => document.fullscreenElement === document.documentElement", timeout=10_000)
    page.keyboard.press("f")
    page.wait_for_function("() => document.fullscreenElement === null", timeout=10_000)


PROJECTOR = {"width": 1920, "height": 1080}


@pytest.fixture
def projector(browser: Any) -> Iterator[Any]:
    """A 1920×1080 screen, as a hall's projector."""
    context = browser.new_context(viewport=PROJECTOR)
    screen = context.new_page()
    screen.route(f"https://{CDN_HOST}/**", lambda route: route.abort())
    yield screen
    context.close()


def _font_px(page: Any, selector: str, pseudo: str | None = None) -> list[float]:
    return page.eval_on_selector_all(
        selector,
        "(els, pseudo) => els.filter(e => e.offsetParent !== null)"
        ".map(e => parseFloat(getComputedStyle(e, pseudo).fontSize))",
        pseudo,
    )


def _rect(page: Any, selector: str) -> dict[str, float]:
    return page.evaluate(
        "s => { const r = document.querySelector(s).getBoundingClientRect();"
        " return {x: r.x, y: r.y, w: r.width, h: r.height} }",
        selector,
    )


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]
    )


def _luminance_at(page: Any, x: float, y: float) -> float:
    """The lane canvas's pixel at (x, y) CSS px over the black page, as drawn (one device pixel
    per CSS pixel here; the canvas is transparent where nothing is drawn)."""
    return float(
        page.evaluate(
            "([x, y]) => { const c = document.querySelector('#lanes');"
            " const d = c.getContext('2d').getImageData(Math.round(x), Math.round(y), 1, 1).data;"
            " return (0.2126 * d[0] + 0.7152 * d[1] + 0.0722 * d[2]) * d[3] / 255 }",
            [x, y],
        )
    )


def test_presenter_mode_at_1080p_draws_lanes_a_room_can_read(dashboard: str, projector: Any) -> None:
    page = projector
    target = httpx.post(
        f"{dashboard}/api/targets",
        json={"backlog": 2, "limit_concurrency": 3, "handler_ms": 400, "loop": "asyncio"},
        timeout=60,
    ).json()
    assert target["state"] == "ready"
    _open(page, f"{dashboard}/?present=1")
    page.wait_for_selector(f'#target-status[data-target-id="{target["id"]}"]', timeout=15_000)
    page.wait_for_function("() => window.connscope.view.describe().lanes.slots.kind === 'places'", timeout=10_000)

    # Every label on the lanes is at least 28 px: names, counts, captions, the outcome bins.
    sizes = {
        "lane names": _font_px(page, ".lane-name"),
        "lane counts": _font_px(page, ".lane-count-row .lane-label"),
        "captions": _font_px(page, ".lane-caption"),
        "bin counts": _font_px(page, ".lane-label--bin"),
        "bin names": _font_px(page, ".lane-label--bin", "::before"),
    }
    for what, values in sizes.items():
        assert values and min(values) >= 28, (what, values)
    drawing = page.evaluate("() => window.connscope.view.describe()")
    assert drawing["width"] >= 1800
    # Text drawn on the canvas too: the backlog's "+1 extra" place.
    assert drawing["text"]["extra"]["px"] >= 28 and drawing["text"]["extra"]["text"].startswith("+1"), drawing["text"]
    # The headers sit in a band above the lanes, never over the boxes.
    heads = page.eval_on_selector_all(".lane-head", "els => els.map(e => e.getBoundingClientRect().bottom)")
    stage_top = _rect(page, "#stage")["y"]
    assert max(heads) - stage_top <= drawing["head"], (heads, drawing["head"])

    # The places fill their lanes: backlog 2 (+1 extra) and 3 slots are big boxes, not 30 px ones
    # (the backlog's leave half the lane's width for the extra place's label).
    for key, places in (("backlog", 2), ("slots", 3)):
        lane = drawing["lanes"][key]
        area = lane["area"]
        assert lane["places"] == places
        rows = lane["rows"] + (1 if lane["extra"] else 0)
        filled = max(lane["cols"] * lane["cell"] / area["w"], rows * lane["cell"] / area["h"])
        assert filled >= 0.6, (key, lane)
        assert lane["cell"] >= max(100, 0.45 * area["w"]), (key, lane)
        # And they are on the canvas: each box's outline is bright where its edge is drawn.
        for box in lane["boxes"]:
            edge = _luminance_at(page, box["x"] - lane["cell"] / 2 + max(1.5, lane["cell"] * 0.04), box["y"])
            inside = _luminance_at(page, box["x"], box["y"] - lane["cell"] * 0.4)
            assert edge > inside + 60, (key, box, edge, inside)
    assert drawing["lanes"]["backlog"]["extra"]["size"] == pytest.approx(drawing["lanes"]["backlog"]["cell"])

    # Dots scale too: the finished connections' dots in the 200 ok bin are far above 13 px.
    burst = httpx.post(
        f"{dashboard}/api/targets/{target['id']}/bursts",
        json={"connections": 2, "pattern": "rate", "rate": 10},
        timeout=10,
    ).json()
    wait_burst(dashboard, target["id"], burst["id"])
    page.wait_for_function("() => window.connscope.view.describe().lanes.ok.count === 2", timeout=15_000)
    ok = page.evaluate("() => window.connscope.view.describe().lanes.ok")
    assert 2 * ok["dotRadius"] >= 30, ok
    assert ok["dotRadius"] * 2 <= ok["cell"] <= ok["area"]["w"]


def test_presenter_notice_never_covers_the_legend_while_a_scenario_starts(dashboard: str, projector: Any) -> None:
    page = projector
    _open(page, dashboard)
    page.keyboard.press("p")
    page.keyboard.press("5")  # the off-by-one scenario starts at once
    page.wait_for_selector("#announcer.toast--shown", timeout=5_000)
    page.wait_for_function(
        "() => document.getElementById('announcer').textContent === 'Presenter mode on: p leaves, ? lists the keys.'"
    )
    page.wait_for_timeout(300)  # the notice's slide-in is over
    toast = _rect(page, "#announcer")
    assert toast["w"] > 0 and toast["h"] > 0
    assert not _overlap(toast, _rect(page, ".legend")), (toast, _rect(page, ".legend"))
    assert not _overlap(toast, _rect(page, "#stage"))
    # While the scenario's story is up too.
    page.wait_for_selector(".scenario-story", timeout=30_000)
    if page.locator("#announcer.toast--shown").count():
        assert not _overlap(_rect(page, "#announcer"), _rect(page, ".legend"))
    assert not _overlap(_rect(page, ".scenario-story"), _rect(page, ".legend"))


def test_slow_motion_shows_the_run_at_a_quarter_of_its_pace_then_catches_up(dashboard: str, page: Any) -> None:
    target = httpx.post(
        f"{dashboard}/api/targets", json={"handler": "async", "handler_ms": 300, "loop": "asyncio"}, timeout=60
    ).json()
    _open(page, dashboard)
    page.wait_for_selector(f'#target-status[data-target-id="{target["id"]}"]', timeout=15_000)
    _blur(page)
    page.keyboard.press("s")
    badge = page.locator("#slow-badge")
    badge.wait_for(state="visible", timeout=5_000)
    assert badge.inner_text().startswith("0.25× · live")
    assert page.get_attribute("#slow-toggle", "aria-pressed") == "true"
    assert "slow=1" in page.url

    fired_at = time.monotonic()
    burst = httpx.post(
        f"{dashboard}/api/targets/{target['id']}/bursts",
        json={"connections": 6, "pattern": "rate", "rate": 10},
        timeout=10,
    ).json()
    result = wait_burst(dashboard, target["id"], burst["id"])
    # The run is over (about 0.8 s); the view, at 0.25×, is still in its first half.
    closed = int(page.get_attribute('[data-count="closed"]', "data-value") or 0)
    assert closed < 6, "the view kept pace with the run: it is not slowed"
    assert "behind" in badge.inner_text()
    # While it plays behind, a finding written from the finished run stays hidden.
    assert page.evaluate("() => document.documentElement.dataset.slowBehind") == "true"
    # What it shows is one moment of the run throughout: counters and lanes agree.
    # (Both read in one call: two calls could fall either side of a close as it plays.)
    shown, counted = page.evaluate(
        "() => { const l = window.connscope.view.describe().lanes;"
        " return [['ok','rejected','error','refused','reset','timeout'].reduce((n, k) => n + l[k].count, 0),"
        " Number(document.querySelector('[data-count=\"closed\"]').dataset.value || 0)] }"
    )
    assert shown == counted

    page.wait_for_function(
        "() => document.querySelector('[data-count=\"closed\"]').dataset.value === '6'", timeout=30_000
    )
    caught_up = time.monotonic()
    page.wait_for_function(
        "() => document.querySelector('#slow-badge').textContent.includes('caught up')", timeout=10_000
    )
    assert page.evaluate("() => document.documentElement.dataset.slowBehind") == "false"
    assert int(page.get_attribute('[data-count="ok"]', "data-value") or 0) == result["totals"]["ok"] == 6
    # At 0.25× a run that began after `fired_at` ends on screen four times its length later
    # (less the tail after its last change): counted from the firing, which a late poll of
    # wait_burst cannot shift (a CI run's poll came back late enough to fail "2× from done").
    assert caught_up - fired_at >= 3.0 * result["duration_ms"] / 1000, (caught_up - fired_at, result["duration_ms"])

    # The histogram's percentile labels (all in one bucket here) never overlap.
    page.wait_for_function("() => (window.connscope.live.percentileLabels || []).length === 5", timeout=10_000)
    labels = page.evaluate("() => window.connscope.live.percentileLabels")
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            assert not _overlap(
                {"x": a["x"], "y": a["y"], "w": a["w"], "h": a["h"]},
                {"x": b["x"], "y": b["y"], "w": b["w"], "h": b["h"]},
            ), labels

    page.keyboard.press("s")
    badge.wait_for(state="hidden", timeout=5_000)
    assert "slow=1" not in page.url


def test_replay_in_presenter_mode_with_p_present_1_and_help(dashboard: str, page: Any, projector: Any) -> None:
    target = httpx.post(
        f"{dashboard}/api/targets", json={"loop": "asyncio", "handler_ms": 20, "workers": 1}, timeout=60
    ).json()
    _open(page, f"{dashboard}/?present=1")
    page.wait_for_selector(f'#target-status[data-target-id="{target["id"]}"]', timeout=15_000)
    link = page.locator("#replay-last")
    assert not link.is_visible(), "no run recorded yet"
    burst = httpx.post(
        f"{dashboard}/api/targets/{target['id']}/bursts",
        json={"connections": 3, "pattern": "rate", "rate": 30},
        timeout=10,
    ).json()
    wait_burst(dashboard, target["id"], burst["id"])
    run_id = wait_run_id(dashboard, target["id"])
    # Presenter mode on the live page links to the replay of the last run, in presenter mode.
    page.wait_for_function(
        "id => document.querySelector('#replay-last').dataset.runId === String(id)", arg=run_id, timeout=15_000
    )
    assert link.is_visible()
    assert link.get_attribute("href") == f"/runs/{run_id}?present=1"
    page.keyboard.press("p")
    page.wait_for_function("() => document.documentElement.dataset.presenter === 'off'", timeout=5_000)
    assert not link.is_visible(), "outside presenter mode the runs list has the replays"

    screen = projector
    screen.goto(f"{dashboard}{link.get_attribute('href')}")
    screen.wait_for_function("() => window.connscopeReplay !== undefined", timeout=15_000)
    assert _presenting(screen) == "on"
    assert screen.get_attribute("#presenter-toggle", "aria-pressed") == "true"
    assert min(_font_px(screen, ".lane-name")) >= 28
    root_presenting = screen.evaluate("() => parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert _rect(screen, "#stage")["h"] >= 360
    assert "workers=1" in screen.locator("[data-what]").inner_text()
    assert "rate 30/s" in screen.locator("[data-what]").inner_text()

    screen.keyboard.press("?")
    screen.locator("#key-help").wait_for(state="visible", timeout=5_000)
    keys = screen.eval_on_selector_all("#key-help dt kbd", "els => els.map(e => e.textContent.trim())")
    for key in ("?", "p", "space", "←", "→", "f"):
        assert key in keys, keys
    screen.keyboard.press("Escape")
    screen.locator("#key-help").wait_for(state="hidden", timeout=5_000)

    screen.keyboard.press("p")
    screen.wait_for_function("() => document.documentElement.dataset.presenter === 'off'", timeout=5_000)
    assert "present=1" not in screen.url
    assert screen.evaluate("() => parseFloat(getComputedStyle(document.documentElement).fontSize)") < root_presenting
    assert max(_font_px(screen, ".lane-name")) < 28
    screen.keyboard.press("p")
    screen.wait_for_function("() => document.documentElement.dataset.presenter === 'on'", timeout=5_000)
    assert "present=1" in screen.url
    assert min(_font_px(screen, ".lane-name")) >= 28
