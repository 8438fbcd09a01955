"""Access in real headless Chromium: a page from another origin can do nothing to the dashboard,
every page runs under its CSP without a violation, and the room gets the read-only view."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from app.assets import PAGE_ASSETS
from tests.support import CDN_HOST, serve_dashboard, wait_burst, wait_run_id
from tests.test_security import PAYLOAD, SCENARIO, TOKEN, _children, _own_address, _serve
from tests.test_sweep_dashboard import FORM as SWEEP_FORM
from tests.test_sweep_dashboard import wait_sweep

pytestmark = [pytest.mark.browser, pytest.mark.target]

# Every CSP violation the page sees, from the event and from Chromium's console.
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def _ready(page: Any) -> None:
    page.wait_for_function("() => window.htmx !== undefined && window.uPlot !== undefined", timeout=15_000)


def _watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.add_init_script(WATCH_CSP)
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    return problems


def _violations(page: Any, problems: list[str]) -> list[str]:
    return problems + list(page.evaluate("() => window.__csp"))


@contextlib.contextmanager
def _attacker_site(body: str) -> Iterator[str]:
    """Another origin on this machine (127.0.0.1, another port) serving one page."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = body.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


ATTACK = """<!doctype html><title>a page the user has open</title>
<iframe name="a"></iframe><iframe name="b"></iframe><iframe name="c"></iframe>
<form id="start" method="post" action="{dash}/targets" target="a">
  <input name="handler" value="async"><input name="loop" value="asyncio"></form>
<form id="scenario" method="post" action="{dash}/scenarios/{scenario}" target="b"></form>
<form id="reflect" method="post" action="{dash}/scenarios/{payload}" target="c"></form>
<script>
window.results = {{}};
for (const id of ["start", "scenario", "reflect"]) document.getElementById(id).submit();
fetch("{dash}/api/runs").then((r) => r.text()).then(
  (text) => {{ results.fetch = "read: " + text; }}, (e) => {{ results.fetch = "blocked: " + e; }});
fetch("{dash}/api/targets", {{method: "POST", mode: "no-cors", body: "{{}}",
  headers: {{"content-type": "text/plain"}}}}).then(
  (r) => {{ results.nocors = "sent"; }}, (e) => {{ results.nocors = "blocked"; }});
const ws = new WebSocket("{ws}/ws");
ws.onopen = () => {{ results.ws_open = true; }};
ws.onmessage = (m) => {{ results.ws_message = m.data; }};
ws.onclose = (e) => {{ results.ws_close = e.code; }};
</script>"""


def _burst_with_bearer(room: str, connections: int, rate: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """A target started and a burst fired through the API with the token, as a presenter's
    script would: the target and the finished burst."""
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    target: dict[str, Any] = httpx.post(
        f"{room}/api/targets", json={"loop": "asyncio", "handler_ms": 20}, headers=bearer, timeout=60
    ).json()
    burst = httpx.post(
        f"{room}/api/targets/{target['id']}/bursts",
        json={"connections": connections, "pattern": "rate", "rate": rate},
        headers=bearer,
        timeout=10,
    ).json()
    return target, wait_burst(room, target["id"], burst["id"])


def test_a_page_from_another_origin_starts_nothing_reads_nothing_follows_nothing(page: Any) -> None:
    with serve_dashboard() as dash:
        children = _children(dash)
        attack = ATTACK.format(
            dash=dash, ws=dash.replace("http://", "ws://"), scenario=SCENARIO, payload=quote(PAYLOAD)
        )
        answers: dict[str, int] = {}
        page.on(
            "response",
            lambda r: (
                answers.__setitem__(r.url, r.status) if r.request.method == "POST" and r.url.startswith(dash) else None
            ),
        )
        with _attacker_site(attack) as evil:
            page.goto(evil)
            page.wait_for_function(
                "() => results.fetch && results.nocors && results.ws_close !== undefined", timeout=15_000
            )
            deadline = time.monotonic() + 15
            while len(answers) < 4 and time.monotonic() < deadline:
                page.wait_for_timeout(100)
            results = page.evaluate("() => results")
        assert results["fetch"].startswith("blocked"), "no CORS: another origin cannot read /api/runs"
        assert "ws_open" not in results and "ws_message" not in results, "the handshake is refused"
        assert set(answers) == {
            f"{dash}/targets",
            f"{dash}/scenarios/{SCENARIO}",
            f"{dash}/scenarios/{quote(PAYLOAD)}",
            f"{dash}/api/targets",
        }
        assert set(answers.values()) == {403}, answers
        assert page.title() == "a page the user has open"
        assert httpx.get(f"{dash}/api/targets", timeout=10).json() == []
        assert _children(dash) == children, "no target process was started"


def test_the_reported_payload_runs_nothing_even_from_the_dashboard_itself(dashboard: str, page: Any) -> None:
    """Same origin, so the access check lets it through: the 404 itself must be inert."""
    dialogs: list[str] = []

    def dialog(d: Any) -> None:
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    page.goto(f"{dashboard}/runs")
    page.evaluate(
        """(action) => { const f = document.createElement("form"); f.method = "post"; f.action = action;
                         document.body.append(f); f.submit(); }""",
        f"/scenarios/{quote(PAYLOAD)}",
    )
    page.wait_for_url("**/scenarios/**", timeout=10_000)
    page.wait_for_load_state()
    assert page.locator("img").count() == 0
    assert page.title() != "pwned" and dialogs == []
    assert PAYLOAD in page.locator("body").inner_text()


def _recorded_run(url: str) -> int:
    target = httpx.post(f"{url}/api/targets", json={"loop": "asyncio", "handler_ms": 20}, timeout=60).json()
    burst = httpx.post(
        f"{url}/api/targets/{target['id']}/bursts", json={"connections": 3, "pattern": "rate", "rate": 30}, timeout=10
    ).json()
    wait_burst(url, target["id"], burst["id"])
    return wait_run_id(url, target["id"])


def test_every_page_runs_under_its_csp_without_a_violation(dashboard: str, page: Any) -> None:
    problems = _watch(page)
    run_id = _recorded_run(dashboard)
    for path in ("/", "/?present=1", "/runs", f"/runs/{run_id}", "/docs"):
        page.goto(dashboard + path)
        if path.startswith("/?") or path == "/":
            _ready(page)
            page.wait_for_selector('#stream-status[data-state="live"]', timeout=15_000)
        elif path == "/docs":
            page.locator(".swagger-ui .opblock").first.wait_for(timeout=15_000)
        elif path.startswith("/runs/"):
            page.wait_for_function("() => window.connscopeReplay !== undefined", timeout=15_000)
        assert _violations(page, problems) == [], path
    # The target panel's htmx swap, under the same policy.
    page.goto(dashboard)
    _ready(page)
    page.click("#target-form button[type=submit]")
    page.wait_for_selector('#target-panel [data-target-state="ready"]', timeout=30_000)
    assert _violations(page, problems) == []

    # The watch is live: an injected inline handler is blocked, and reported.
    page.evaluate("""() => document.body.insertAdjacentHTML("beforeend",
        '<img src="/nowhere.png" onerror="window.__ran = true">')""")
    page.wait_for_function("() => window.__csp.length > 0", timeout=5_000)
    assert page.evaluate("() => window.__ran") is None


def test_the_cdn_copies_run_under_the_csp(dashboard: str, page: Any) -> None:
    """The CDN answered (from the local copies, with the CORS header jsDelivr sends): the
    files are fetched with their SRI hash and run with the page's nonce."""
    problems = _watch(page)
    by_url = {a.cdn: a for a in PAGE_ASSETS}

    def cdn(route: Any) -> None:
        asset = by_url[route.request.url]
        kind = "text/css" if asset.kind == "css" else "application/javascript"
        route.fulfill(
            status=200, body=asset.file.read_bytes(), headers={"content-type": kind, "access-control-allow-origin": "*"}
        )

    page.route(f"https://{CDN_HOST}/**", cdn)
    page.goto(dashboard)
    _ready(page)
    loaded = page.evaluate("() => window.connscopeAssets.loaded")
    assert set(loaded.values()) == {"cdn"}, loaded
    assert _violations(page, problems) == []


def test_offline_mode_runs_under_the_csp(page: Any) -> None:
    problems = _watch(page)
    with serve_dashboard("--offline") as url:
        page.goto(url)
        _ready(page)
        page.wait_for_selector('#stream-status[data-state="live"]', timeout=15_000)
        csp = httpx.get(url, timeout=10).headers["content-security-policy"]
        assert CDN_HOST not in csp, "offline: nothing from the CDN is allowed"
    assert _violations(page, problems) == []


@pytest.fixture(scope="module")
def room() -> Iterator[str]:
    address = _own_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to bind to")
    with _serve(address, token=TOKEN) as (url, _):
        yield url


def test_the_audience_view_follows_live_and_cannot_change_anything(room: str, page: Any) -> None:
    problems = _watch(page)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method != "GET" else None)
    page.goto(room)
    _ready(page)
    page.wait_for_selector('#stream-status[data-state="live"]', timeout=15_000)
    assert page.locator("#target-form, #burst-form, #fire, #copy-link, [hx-post]").count() == 0
    for key in ("r", " ", "1"):
        page.keyboard.press(key)
    page.wait_for_timeout(500)
    assert posts == []

    # The presenter starts a target and fires: the audience's lanes and numbers follow.
    target, result = _burst_with_bearer(room, connections=4, rate=40)
    page.wait_for_function(
        "n => document.querySelector('[data-count=\"requests\"]').dataset.value === String(n)",
        arg=result["totals"]["requests"],
        timeout=15_000,
    )
    page.wait_for_selector(f'#burst-progress li[data-burst="{result["id"]}"][data-done="true"]', timeout=15_000)

    # The presenter runs a comparison: the audience is told where it is watched (it saw "No
    # target yet" throughout), then, once it has ended, where its results are.
    slow = {"handler_ms": 800, "loop": "asyncio"}
    started = httpx.post(
        f"{room}/api/comparisons",
        json={"a": slow | {"limit_concurrency": 2}, "b": slow, "burst": {"connections": 2}},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=60,
    )
    assert started.status_code == 202, started.text
    title = "document.querySelector('#empty-title').textContent"
    page.wait_for_function(f"() => {title} === 'The presenter is running a comparison'", timeout=15_000)
    page.wait_for_function(f'() => {title} === "The presenter\'s comparison has ended"', timeout=30_000)
    link = page.locator("#empty-link")
    assert link.inner_text() == "See its results →" and link.get_attribute("href") == "/compare"
    assert _violations(page, problems) == []


def _take_control(page: Any, room: str, path: str = "/") -> None:
    """Opens the control link, as printed; its page stores the token and leaves for `path`."""
    page.goto(f"{room}{path}{'&' if '?' in path else '?'}token={TOKEN}")
    page.wait_for_url(f"{room}{path}", timeout=10_000)


def test_presenter_mode_shows_the_audience_link_and_its_qr_code(room: str, page: Any) -> None:
    _take_control(page, room)
    assert page.url == f"{room}/", "the token leaves the address bar"
    _ready(page)
    assert page.locator("#audience-link").is_hidden()
    page.keyboard.press("p")
    link = page.locator("#audience-link")
    link.wait_for(state="visible", timeout=5_000)
    assert link.locator("a").inner_text() == f"{room}/"
    box = link.locator("svg.audience__qr").bounding_box()
    assert box is not None and box["width"] >= 100 and box["width"] == pytest.approx(box["height"], abs=1)
    # Beside a guided scenario's story on a 1024 x 768 projector, the code steps aside: the
    # story's "what happened" had scrolled inside its strip, cut off at the screen's edge.
    page.set_viewport_size({"width": 1024, "height": 768})
    page.keyboard.press("1")
    page.locator(".scenario-story [data-finding]").wait_for(state="visible", timeout=60_000)
    page.wait_for_timeout(300)
    strip = page.locator(".controls").evaluate("e => [e.scrollHeight, e.clientHeight]")
    assert strip[0] <= strip[1] + 1, f"the story scrolls in its strip: {strip}"
    story = page.locator(".scenario-story").bounding_box()
    assert story is not None and story["y"] + story["height"] <= 768 + 0.5
    box = link.locator("svg.audience__qr").bounding_box()
    assert box is not None and box["width"] >= 100, "the code stays big enough to scan from a seat"


def test_the_printed_control_link_gives_control_once(page: Any) -> None:
    """The link `connscope serve` prints works in one browser once: opened again (from the
    browser's history, or its suggestions on a projected screen) it gives nothing."""
    address = _own_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to bind to")
    with _serve(address, token=TOKEN) as (url, printed):
        found = re.search(r"works once \(the next shows here\): (\S+)", printed)
        assert found is not None, printed
        page.goto(found.group(1))
        page.wait_for_url(f"{url}/", timeout=10_000)
        assert page.evaluate("() => sessionStorage.getItem('connscope-token')") == TOKEN
        _ready(page)
        assert page.locator("#target-form").count() == 1, "the control page"
        other = page.context.new_page()
        other.goto(found.group(1))
        assert "this control link has been used" in other.content()
        assert other.evaluate("() => sessionStorage.getItem('connscope-token')") is None
        # Its link on is what typing the address gives: here, where a tab has control, control.
        other.get_by_role("link", name="Open the dashboard").click()
        other.wait_for_url(f"{url}/", timeout=10_000)
        other.wait_for_function("() => sessionStorage.getItem('connscope-token') !== null", timeout=10_000)
        assert other.evaluate("() => sessionStorage.getItem('connscope-token')") == TOKEN
        other.close()


def test_the_control_link_gives_the_browser_control_and_no_cookie_carries_the_token(room: str, page: Any) -> None:
    problems = _watch(page)
    _take_control(page, room)
    # about:blank, then the dashboard: the link's own entry was replaced, token and all.
    assert page.evaluate("() => history.length") == 2
    assert page.evaluate("() => sessionStorage.getItem('connscope-token')") == TOKEN
    _ready(page)
    before = {t["id"] for t in httpx.get(f"{room}/api/targets", timeout=10).json()}
    page.click("#target-form button[type=submit]")
    # A target started by an earlier test may still show ready: wait for the one this click made.
    deadline = time.monotonic() + 30
    while not (new := [t for t in httpx.get(f"{room}/api/targets", timeout=10).json() if t["id"] not in before]):
        assert time.monotonic() < deadline, "the click started no target"
        time.sleep(0.1)
    while (state := httpx.get(f"{room}/api/targets/{new[0]['id']}", timeout=10).json()["state"]) == "starting":
        assert time.monotonic() < deadline, "the target never left starting"
        time.sleep(0.1)
    assert state == "ready"
    page.wait_for_selector('#target-panel [data-target-state="ready"]', timeout=30_000)
    assert _violations(page, problems) == []

    # Whatever another server on this host name receives: no cookie carries the token ...
    cookies = page.context.cookies()
    assert cookies, "the view cookie renders the forms"
    assert all(TOKEN not in f"{c['name']}={c['value']}" for c in cookies), cookies
    # ... and replaying every one of them, as that server could, changes nothing.
    jar = "; ".join(f"{c['name']}={c['value']}" for c in cookies)
    for headers in ({"Cookie": jar}, {"Cookie": jar, "Origin": room}):
        for path in ("/targets/current/stop", "/targets/current/restart"):
            refused = httpx.post(room + path, headers=headers, timeout=10)
            assert refused.status_code == 403 and "open the control link" in refused.text, (path, refused.text)
    assert httpx.get(f"{room}/api/targets/{new[0]['id']}", timeout=10).json()["state"] == "ready"

    # The page's own Stop, with the header, still works.
    page.click('#target-panel button[hx-post="/targets/current/stop"]')
    deadline = time.monotonic() + 30
    while httpx.get(f"{room}/api/targets/{new[0]['id']}", timeout=10).json()["state"] == "ready":
        assert time.monotonic() < deadline, "the page's Stop did not stop the target"
        time.sleep(0.1)


def test_a_second_tab_gets_control_from_the_first_and_a_new_browser_does_not(
    room: str, page: Any, browser: Any
) -> None:
    _take_control(page, room)
    _ready(page)
    second = page.context.new_page()
    second.route(f"https://{CDN_HOST}/**", lambda route: route.abort())
    second.goto(f"{room}/runs")
    second.wait_for_function(f"() => sessionStorage.getItem('connscope-token') === {TOKEN!r}", timeout=10_000)
    assert second.url == f"{room}/runs"

    other = browser.new_context()
    try:
        stranger = other.new_page()
        stranger.goto(f"{room}/runs")
        stranger.wait_for_timeout(500)
        assert stranger.evaluate("() => sessionStorage.getItem('connscope-token')") is None
        assert stranger.locator("[data-delete-run]").count() == 0, "the audience view"
    finally:
        other.close()


def test_the_pages_fetch_and_form_posts_carry_the_token(room: str, page: Any) -> None:
    target, _ = _burst_with_bearer(room, connections=3, rate=30)
    run_id = wait_run_id(room, target["id"])

    # runs.js's DELETE.
    _take_control(page, room, "/runs")
    page.click(f'[data-delete-run="{run_id}"]')
    page.click("#delete-run-confirm")
    page.locator(f'tr[data-run="{run_id}"]').wait_for(state="detached", timeout=10_000)
    assert httpx.get(f"{room}/api/runs/{run_id}", timeout=10).status_code == 404

    # The sweep form, sent by fetch with the header: a bad value comes back inline, on the form's page.
    page.goto(f"{room}/sweeps/new")
    page.fill("#sweep-repeat", "0")
    page.click("#start-sweep")
    page.locator("#sweep-repeat-error").wait_for(timeout=10_000)
    assert "whole number" in page.locator("#sweep-repeat-error").inner_text()
    assert page.url == f"{room}/sweeps/new" and page.locator("#sweep-repeat").input_value() == "0"

    # A token that is not this dashboard's: refused, and the form says how to get control.
    page.evaluate("() => sessionStorage.setItem('connscope-token', 'not-it')")
    page.reload()
    page.click("#start-sweep")
    alert = page.locator("#sweep-form [data-token-post-error]")
    alert.wait_for(timeout=10_000)
    assert alert.inner_text().startswith("HTTP 403: Refused") and "open the control link" in alert.inner_text()


def _try_it_out(page: Any, method: str, path: str, values: dict[str, str]) -> str:
    """Swagger UI's "Try it out" on one operation, as a user clicks it: the status it shows."""
    operation = page.locator(f".opblock-{method}", has=page.locator(".opblock-summary-path", has_text=path))
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    for name, value in values.items():
        operation.locator(f"input[placeholder='{name}']").fill(value)
    operation.get_by_role("button", name="Execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for(timeout=10_000)
    return str(status.inner_text()).split()[0]


def test_the_api_docs_try_it_out_sends_the_token(room: str, page: Any) -> None:
    """Off loopback, "Try it out" on /docs carries the control token as the dashboard's
    pages do; without it the same request is refused."""
    _take_control(page, room, "/docs")
    assert _try_it_out(page, "delete", "/api/runs/{run_id}", {"run_id": "999999999"}) == "404", (
        "authorised: there is simply no such run"
    )
    page.evaluate("() => sessionStorage.removeItem('connscope-token')")
    page.goto(f"{room}/docs")  # not reload(): the deep link would open the operation already
    assert _try_it_out(page, "delete", "/api/runs/{run_id}", {"run_id": "999999999"}) == "403"


def test_a_sweep_starts_and_stops_from_its_pages_with_the_token(room: str, page: Any) -> None:
    """The sweep's two forms, sent by fetch with the header: the start follows its redirect
    to the sweep's page, whose Stop stops it. Last here: a sweep replaces the live target."""
    _take_control(page, room, "/sweeps/new")
    for name, value in (SWEEP_FORM | {"handler_ms": "2000", "repeat": "3"}).items():
        page.fill(f"#sweep-{name}", value)
    page.click("#start-sweep")
    page.wait_for_url(re.compile(r".*/sweeps/\d+$"), timeout=30_000)
    sweep_id = int(page.url.rsplit("/", 1)[1])
    assert httpx.get(f"{room}/api/sweeps/{sweep_id}", timeout=10).json()["progress"]["live"]
    page.click("#sweep-stop button[type=submit]")
    page.wait_for_function("() => document.body?.dataset.sweepState === 'stopped'", timeout=30_000)
    assert wait_sweep(room, sweep_id, 30)["sweep"]["state"] == "stopped"
