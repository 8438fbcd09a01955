"""Scenarios chosen mid-run, findings that say which burst they describe, kernel knobs in the
form and the share link, the burst form after a reload: real dashboard, real targets, real
headless Chromium."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from app.numbers import ms_text
from app.sandbox.isolation import netns_unavailable_reason
from app.scenarios import BY_ID, SCENARIOS
from tests.conftest import time_in
from tests.support import CDN_HOST, wait_burst

pytestmark = [pytest.mark.browser, pytest.mark.target]


def _ready(page: Any) -> None:
    page.wait_for_function("() => window.htmx !== undefined && window.uPlot !== undefined", timeout=15_000)


def _blur(page: Any) -> None:
    page.evaluate("() => document.activeElement && document.activeElement.blur()")


def _key(scenario_id: str) -> str:
    return str(next(i for i, s in enumerate(SCENARIOS, 1) if s.id == scenario_id))


def _current(url: str) -> dict[str, Any]:
    target: dict[str, Any] = httpx.get(f"{url}/api/targets", timeout=10).json()[-1]
    return target


def _first_burst(url: str) -> dict[str, Any]:
    """The current target's first burst, once fired: the panels follow a scenario's target
    from its start, before its burst goes out."""
    deadline = time.monotonic() + 30
    while not (bursts := _current(url)["bursts"]):
        assert time.monotonic() < deadline, "the scenario's burst was never fired"
        time.sleep(0.1)
    burst: dict[str, Any] = bursts[0]
    return burst


def _run(url: str, run_id: int) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{url}/api/runs/{run_id}", timeout=10).json()
    return result


def _story(page: Any) -> str:
    return str(page.locator("#scenario-panel .scenario-story").inner_text())


def test_a_scenario_chosen_mid_run_takes_over_the_page_and_the_first_is_labelled_interrupted(
    dashboard: str, page: Any
) -> None:
    first, second = BY_ID["limit-async"], BY_ID["off-by-one"]
    page.goto(dashboard)
    _ready(page)
    _blur(page)
    page.keyboard.press(_key(first.id))
    page.wait_for_selector(f'[data-scenario-story="{first.id}"] .finding--pending', timeout=30_000)
    # The first scenario's burst runs 1 s of arrivals and holds slots 1.5 s: it is mid-run.
    page.wait_for_function(
        "() => Number(document.querySelector('[data-count=\"requests\"]').dataset.value) >= 2", timeout=15_000
    )
    _blur(page)
    page.keyboard.press(_key(second.id))
    page.wait_for_selector(f'[data-scenario-story="{second.id}"]', timeout=30_000)

    # The page describes what runs now: the second scenario's title, text and highlight.
    story = _story(page)
    assert second.title in story and second.watch in story
    assert first.title not in story
    current = page.locator("#scenario-panel .scenario--current")
    assert current.count() == 1 and current.get_attribute("data-scenario") == second.id

    # The first run is labelled interrupted, on the page and in the store, with its figures.
    note = page.locator("[data-interrupted]").inner_text()
    interrupted = next(r for r in httpx.get(f"{dashboard}/api/runs", timeout=10).json() if r["scenario"] == first.id)
    cut = _run(dashboard, interrupted["id"])
    target = _current(dashboard)
    reason = f"superseded by target {target['id']} (scenario {second.id})"
    assert cut["cancelled"] == reason
    assert cut["finding"] in note and f"Burst 1 (scenario {first.id}) was interrupted" in note
    assert interrupted["summary"].startswith(f"interrupted (cancelled: {reason})")
    totals = cut["totals"]
    assert totals["cancelled"] >= 1, "slots were held when the second scenario started"
    cancelled = totals["cancelled"]
    assert f"{cancelled} {'was' if cancelled == 1 else 'were'} cancelled" in cut["finding"]
    for connection in cut["connections"]:
        for request in connection["requests"]:
            assert request["outcome"] is not None, "every connection ends in a named outcome"
            if request["outcome"] == "cancelled":
                assert request["error"] == reason
        assert connection["states"][-1][0] == "closed"

    # When the second one ends, its own finding, from its own run.
    page.wait_for_selector(f'[data-scenario-story="{second.id}"] [data-finding]', timeout=60_000)
    burst = _first_burst(dashboard)
    result = wait_burst(dashboard, target["id"], burst["id"])
    run = _run(dashboard, result["run_id"])
    assert run["scenario"] == second.id and run["cancelled"] is None
    finding = page.locator("[data-finding]").inner_text()
    assert "burst 1" in finding and run["finding"] in finding
    assert run["totals"]["ok"] == 2 and run["totals"]["rejected"] == 4

    # Space after the scenario: the finding says it describes burst 1 only.
    _blur(page)
    page.keyboard.press(" ")
    page.wait_for_selector('[data-later-bursts="2"]', timeout=15_000)
    assert "describes burst 1 only" in _story(page)
    assert run["finding"] in page.locator("[data-finding]").inner_text()

    # Stop cuts burst 2 short on the same target: its connections land in a labelled bin.
    page.wait_for_function(
        "() => Number(document.querySelector('[data-count=\"active\"]').dataset.value) >= 1", timeout=15_000
    )
    page.locator('#target-panel button:has-text("Stop")').click()
    stopped = wait_burst(dashboard, target["id"], 2)
    assert stopped["cancelled"] == f"target {target['id']} stopped"
    cancelled = stopped["totals"]["cancelled"]
    assert cancelled >= 1
    page.wait_for_function(
        "n => document.querySelector('[data-lane=\"cancelled\"]').textContent === String(n)",
        arg=cancelled,
        timeout=15_000,
    )
    bins = page.locator(".lane-label--bin:not([hidden])")
    labels = [bins.nth(i).get_attribute("data-label") for i in range(bins.count())]
    assert "▬ cancelled" in labels
    assert all(label and "no outcome" not in label for label in labels), labels
    assert page.locator('[data-count="cancelled"]').first.get_attribute("data-value") == str(cancelled)


def test_the_kernel_peak_on_the_page_is_the_runs_and_the_thread_pool_finding_names_both_witnesses(
    dashboard: str, page: Any
) -> None:
    page.goto(dashboard)
    _ready(page)
    _blur(page)
    page.keyboard.press(_key("thread-pool"))
    page.wait_for_selector('[data-scenario-story="thread-pool"] [data-finding]', timeout=60_000)
    target = _current(dashboard)
    result = wait_burst(dashboard, target["id"], target["bursts"][0]["id"])
    run = _run(dashboard, result["run_id"])
    peaks = run["peaks"]
    page.wait_for_function(
        "n => document.querySelector('[data-count=\"peak-queued\"]').dataset.value === String(n)",
        arg=peaks["queued"],
        timeout=15_000,
    )
    assert page.locator('[data-count="peak-accept-queue"]').get_attribute("data-value") == str(peaks["accept_queue"])
    longest = max(time_in(c, "queued") for c in run["connections"])
    shown = f"{ms_text(longest)} ms"
    assert (
        f"up to {peaks['queued']} connections were in the backlog at once, each for at most {shown} "
        f"({peaks['accept_queue']} in the kernel's samples"
    ) in run["finding"]
    assert run["finding"] in page.locator("[data-finding]").inner_text()


def _start_from_form(page: Any, url: str) -> dict[str, Any]:
    """Presses Start target and waits until the page shows the new target ready."""
    targets = httpx.get(f"{url}/api/targets", timeout=10).json()
    before = targets[-1]["id"] if targets else 0
    page.click("#target-form button[type=submit]")
    page.wait_for_function(
        "id => Number(document.querySelector('#target-status').dataset.targetId) > id"
        " && document.querySelector('#target-panel [data-target-state=\"ready\"]')",
        arg=before,
        timeout=30_000,
    )
    return _current(url)


def _fill_target(page: Any, values: dict[str, str]) -> None:
    for name, value in values.items():
        control = page.locator(f"#target-{name}")
        if control.evaluate("el => el.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)


@pytest.mark.skipif(netns_unavailable_reason() is not None, reason="no network namespaces on this machine")
def test_kernel_knobs_round_trip_through_the_form_the_share_link_and_start_new_target(
    dashboard: str, page: Any, browser: Any
) -> None:
    page.goto(dashboard)
    _ready(page)
    _fill_target(
        page,
        {
            "handler": "async",
            "handler_ms": "10",
            "somaxconn": "16",
            "tcp_abort_on_overflow": "1",
            "tcp_syncookies": "0",
            "backlog": "64",
        },
    )
    target = _start_from_form(page, dashboard)
    settings = target["settings"]
    assert (settings["somaxconn"], settings["tcp_abort_on_overflow"], settings["tcp_syncookies"]) == (16, True, 0)
    assert "net.core.somaxconn=16" in target["isolation"]

    # The share link: settings only, on the host and port that serve the page.
    page.click("#copy-link")
    link = page.locator("#share-url").input_value()
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == dashboard
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    assert all(key.startswith(("t.", "b.")) for key in query), query
    assert (query["t.somaxconn"], query["t.tcp_abort_on_overflow"], query["t.tcp_syncookies"]) == ("16", "1", "0")

    # A colleague opens it: the knobs are in the form, and nothing started.
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    other = context.new_page()
    other.route(f"https://{CDN_HOST}/**", lambda route: route.abort())
    try:
        other.goto(link)
        assert other.input_value("#target-somaxconn") == "16"
        assert other.input_value("#target-tcp_abort_on_overflow") == "1"
        assert other.input_value("#target-tcp_syncookies") == "0"
    finally:
        context.close()

    # Scenario 9 sets somaxconn=8; "Start new target" after it keeps every knob.
    _blur(page)
    page.keyboard.press(_key("kernel-knobs"))
    page.wait_for_selector('[data-scenario-story="kernel-knobs"] [data-finding]', timeout=60_000)
    assert page.input_value("#target-somaxconn") == "8"
    assert page.input_value("#target-tcp_abort_on_overflow") == "1"
    knobs = BY_ID["kernel-knobs"].settings
    settings = _start_from_form(page, dashboard)["settings"]
    assert (settings["somaxconn"], settings["tcp_abort_on_overflow"]) == (knobs.somaxconn, knobs.tcp_abort_on_overflow)


def test_the_burst_form_survives_a_reload(dashboard: str, page: Any) -> None:
    page.goto(dashboard)
    _ready(page)
    _fill_target(page, {"handler": "async", "handler_ms": "5", "limit_concurrency": "", "backlog": "128"})
    _start_from_form(page, dashboard)
    burst = {
        "connections": "7",
        "rate": "35",
        "requests_per_connection": "2",
        "pause_ms": "20",
        "client_timeout_s": "6.5",
        "path": "/again?n=7",
    }
    page.select_option("#burst-pattern", "rate")
    for name, value in burst.items():
        page.fill(f"#burst-{name}", value)
    page.click("#fire")
    page.wait_for_selector('#burst-progress li[data-done="true"]', timeout=60_000)

    page.reload()
    _ready(page)
    assert page.input_value("#burst-pattern") == "rate"
    assert page.input_value("#burst-path") == burst.pop("path")
    for name, value in burst.items():
        assert float(page.input_value(f"#burst-{name}")) == float(value), name


def test_the_tenth_scenario_runs_on_key_0_which_its_button_shows(dashboard: str, page: Any) -> None:
    tenth = SCENARIOS[9]
    page.goto(dashboard)
    _ready(page)
    keyed = page.locator("#scenario-panel button[data-key]")
    assert [keyed.nth(i).get_attribute("data-key") for i in range(keyed.count())] == [*"123456789", "0"]
    button = page.locator('#scenario-panel button[data-key="0"]')
    assert button.get_attribute("data-scenario") == tenth.id
    assert button.locator("kbd").inner_text() == "0"
    assert page.locator('#key-help [data-key="digits"] dt kbd').all_inner_texts() == ["1", "9", "0"]
    targets = httpx.get(f"{dashboard}/api/targets", timeout=10).json()
    before = targets[-1]["id"] if targets else 0

    _blur(page)
    page.keyboard.press("0")
    page.wait_for_selector(f'[data-scenario-story="{tenth.id}"]', timeout=30_000)
    assert page.locator("#scenario-panel .scenario--current").get_attribute("data-scenario") == tenth.id
    first = _current(dashboard)
    assert first["id"] > before and first["settings"]["server"] == tenth.settings.server
    # Both of its targets run to the end: the scenario's comparison is written, nothing is left running.
    wait_burst(dashboard, first["id"], 1)
    deadline = time.monotonic() + 60
    while True:
        second = _current(dashboard)
        if second["id"] != first["id"] and second["bursts"] and second["bursts"][0]["done"]:
            break
        assert time.monotonic() < deadline, "the second target's burst never finished"
        time.sleep(0.2)
    assert second["bursts"][0]["finding"].startswith("The same ")
    # Without a reload, the page moved to the second target and tells the finding.
    assert tenth.versus is not None
    page.wait_for_selector(f'#target-panel [data-server="{tenth.versus.server}"]', timeout=10_000)
    finding = page.wait_for_selector("#scenario-panel [data-finding]", timeout=10_000)
    assert finding is not None and second["bursts"][0]["finding"] in finding.inner_text()
