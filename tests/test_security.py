"""Access to the dashboard, against a real `connscope serve`: the Host allowlist, same-origin
checks on every state-changing request and the WebSocket, the token off loopback with its
read-only audience view, the headers, and no input reflected as live HTML."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
import socket
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import httpx
import psutil
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from app.scenarios import SCENARIOS
from app.web.security import Access
from tests.support import dashboard_process

pytestmark = [pytest.mark.target]

PAYLOAD = "<img src=x onerror=\"document.title='pwned'\">"
SCENARIO = SCENARIOS[0].id
TOKEN = "test-token-of-this-run-0123456789"

# Every route that changes something, with a body that would pass validation: a 403 here
# is the access check, never the route's own refusal.
CONTROL_ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/targets", {"data": {"handler": "async", "loop": "asyncio"}}),
    ("POST", "/targets/current/stop", {}),
    ("POST", "/targets/current/restart", {}),
    ("POST", "/bursts", {"data": {"connections": "1"}}),
    ("POST", f"/scenarios/{SCENARIO}", {}),
    ("POST", "/api/targets", {"json": {"loop": "asyncio"}}),
    ("DELETE", "/api/targets/1", {}),
    ("POST", "/api/targets/1/bursts", {"json": {"connections": 1}}),
]


def _host(url: str) -> str:
    return url.removeprefix("http://")


def _children(url: str) -> set[int]:
    """The processes the dashboard serving `url` has started (targets and their helpers)."""
    port = int(url.rsplit(":", 1)[1])
    listener = next(
        c for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
    )
    assert listener.pid is not None
    return {p.pid for p in psutil.Process(listener.pid).children(recursive=True)}


# ---------------------------------------------------------------- Host allowlist


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "0.0.0.0:{port}"])
def test_an_unknown_host_gets_400_text_plain(dashboard: str, host: str) -> None:
    port = dashboard.rsplit(":", 1)[1]
    for method, path in (("GET", "/"), ("GET", "/api/runs"), ("POST", "/api/targets")):
        response = httpx.request(method, dashboard + path, headers={"Host": host.format(port=port)}, timeout=10)
        assert response.status_code == 400, (method, path)
        assert response.headers["content-type"].startswith("text/plain")
        assert "--allow-host" in response.text
    # The handshake's Host comes from the URL; the socket goes to the dashboard.
    sock = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://{host.format(port=port)}/ws", sock=sock, open_timeout=10)
    assert refused.value.response.status_code == 400
    assert httpx.get(f"{dashboard}/api/targets", timeout=10).json() == []


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "LOCALHOST:{port}"])
def test_the_loopback_names_are_served(dashboard: str, host: str) -> None:
    port = dashboard.rsplit(":", 1)[1]
    response = httpx.get(dashboard + "/", headers={"Host": host.format(port=port)}, timeout=10)
    assert response.status_code == 200


def test_allow_host_adds_a_name() -> None:
    with _serve("127.0.0.1", "--allow-host", "connscope.lan") as (url, _):
        port = url.rsplit(":", 1)[1]
        for host in ("connscope.lan", f"connscope.lan:{port}"):
            assert httpx.get(url + "/", headers={"Host": host}, timeout=10).status_code == 200
        assert httpx.get(url + "/", headers={"Host": "other.lan"}, timeout=10).status_code == 400


def test_a_wildcard_bind_answers_to_this_machines_addresses_only() -> None:
    access = Access.for_bind("0.0.0.0", 8123, ["proxy.lan:443", "fd00::9"])
    for address in _own_addresses():
        assert access.allows_host(f"{address}:8123"), address
    assert access.allows_host("127.0.0.1:8123") and access.allows_host("[::1]:8123")
    assert access.allows_host("proxy.lan:443") and not access.allows_host("proxy.lan:8123")
    assert access.allows_host("[fd00::9]:8123") and access.allows_host("[fd00::9]")
    for host in ("0.0.0.0:8123", "127.0.0.1", "192.0.2.250:8123", "evil.example:8123", ""):
        assert not access.allows_host(host), host
    assert access.needs_token and access.token is not None and len(access.token) >= 32
    assert Access.for_bind("127.0.0.1", 8123, token="given").token is None, "no token on loopback"


# ---------------------------------------------------------------- same origin


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},  # same site, another port: another origin
        {"Origin": "https://{host}"},
        {"Referer": "http://evil.example/page"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://{host}"},
    ],
)
def test_a_state_change_from_another_origin_gets_403_and_changes_nothing(
    dashboard: str, headers: dict[str, str]
) -> None:
    headers = {k: v.format(host=_host(dashboard)) for k, v in headers.items()}
    before = httpx.get(f"{dashboard}/api/targets", timeout=10).json()
    for method, path, body in CONTROL_ROUTES:
        response = httpx.request(method, dashboard + path, headers=headers, timeout=30, **body)
        assert response.status_code == 403, (method, path, response.text)
        assert response.headers["content-type"].startswith("text/plain")
    assert httpx.get(f"{dashboard}/api/targets", timeout=10).json() == before


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, the CLI, API clients
        {"Origin": "http://{host}"},
        {"Referer": "http://{host}/?present=1"},
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://{host}"},
    ],
)
def test_a_state_change_from_the_dashboard_itself_passes(dashboard: str, headers: dict[str, str]) -> None:
    headers = {k: v.format(host=_host(dashboard)) for k, v in headers.items()}
    # Invalid settings: a 422 shows the request got past the access check to the route,
    # without starting anything.
    response = httpx.post(f"{dashboard}/api/targets", json={"backlog": 0}, headers=headers, timeout=10)
    assert response.status_code == 422
    form = httpx.post(f"{dashboard}/targets", data={"backlog": "0"}, headers=headers, timeout=10)
    assert form.status_code == 422 and 'id="target-backlog-error"' in form.text


def test_the_websocket_handshake_checks_the_origin(dashboard: str) -> None:
    ws_url = dashboard.replace("http://", "ws://") + "/ws"
    for origin in ("http://evil.example", "http://127.0.0.1:1", "null"):
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url, origin=Origin(origin), open_timeout=10)
        assert refused.value.response.status_code == 403
    for own in (Origin(dashboard), None):
        with connect(ws_url, origin=own, open_timeout=10) as ws:
            assert '"type": "snapshot"' in ws.recv(timeout=10)


# ---------------------------------------------------------------- headers, no reflected HTML


def test_every_response_has_nosniff_and_html_has_a_strict_csp(dashboard: str) -> None:
    for path in (
        "/",
        "/?present=1",
        "/runs",
        "/docs",
        "/partials/target",
        "/partials/scenario",
        "/partials/burst-panel",
        "/partials/bursts",
    ):
        response = httpx.get(dashboard + path, timeout=10)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        csp = {d.split()[0]: d.split()[1:] for d in response.headers["content-security-policy"].split("; ")}
        assert csp["frame-ancestors"] == ["'none'"]
        assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
        assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
        assert csp["script-src"][0] == "'self'" and csp["script-src"][1].startswith("'nonce-")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
    for path in ("/api/runs", "/openapi.json", "/static/js/live.js", "/nowhere"):
        response = httpx.get(dashboard + path, timeout=10)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "same-origin", path
    nonces = {httpx.get(dashboard + "/", timeout=10).headers["content-security-policy"] for _ in range(3)}
    assert len(nonces) == 3, "a nonce is never reused"


def test_the_reported_case_answers_text_plain_with_the_id_as_text(dashboard: str) -> None:
    response = httpx.post(f"{dashboard}/scenarios/{quote(PAYLOAD)}", timeout=10)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert PAYLOAD in response.text, "said as text, for the user to see what was asked"


def _error_requests() -> list[tuple[str, str, dict[str, Any]]]:
    q = quote(PAYLOAD)
    return [
        ("POST", f"/scenarios/{q}", {}),
        ("GET", f"/runs/{q}", {}),
        ("GET", "/runs/99999999", {}),
        ("GET", f"/nowhere/{q}", {}),
        ("GET", f"/static/{q}", {}),
        ("GET", f"/vendor/{q}", {}),
        ("PUT", "/", {}),
        ("DELETE", "/runs", {}),
        ("GET", f"/partials/{q}", {}),
        ("GET", f"/api/targets/{q}", {}),
        ("GET", "/api/targets/424242", {}),
        ("GET", f"/api/runs/1/export?format={q}", {}),
        ("GET", f"/api/targets/1/bursts/{q}", {}),
        ("POST", "/api/targets", {"json": {"loop": PAYLOAD}}),
        ("POST", "/api/targets", {"content": PAYLOAD, "headers": {"content-type": "application/json"}}),
        ("POST", "/targets", {"data": {"backlog": PAYLOAD, "handler": PAYLOAD}}),
        ("POST", "/bursts", {"data": {"path": PAYLOAD, "connections": PAYLOAD}}),
        ("GET", f"/?t.backlog={q}&b.path={q}", {}),
    ]


@pytest.mark.parametrize(("method", "path", "body"), _error_requests())
def test_no_error_route_reflects_input_as_live_markup(
    dashboard: str, method: str, path: str, body: dict[str, Any]
) -> None:
    response = httpx.request(method, dashboard + path, timeout=10, **body)
    kind = response.headers.get("content-type", "")
    assert response.headers["x-content-type-options"] == "nosniff"
    if kind.startswith("text/html"):
        # Our own templates (a form with its inline errors): the input only ever as text.
        assert _live_markup(response.text) == [], path
        assert PAYLOAD not in response.text
    else:
        assert kind.startswith(("text/plain", "application/json")), (path, kind)


class _Markup(HTMLParser):
    """What a browser would make of a page: each element that loads or runs something."""

    def __init__(self) -> None:
        super().__init__()
        self.live: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("img", "iframe", "object", "embed") or any(name.startswith("on") for name, _ in attrs):
            self.live.append(f"<{tag} {attrs}>")


def _live_markup(text: str) -> list[str]:
    parser = _Markup()
    parser.feed(text)
    return parser.live


# ---------------------------------------------------------------- off loopback


def _own_addresses() -> list[str]:
    """This machine's own addresses as a Host header gives them (no link-local IPv6)."""
    found = []
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET:
                found.append(address.address)
            elif address.family == socket.AF_INET6:
                ip = ipaddress.ip_address(address.address.split("%")[0])
                if not ip.is_link_local:
                    found.append(f"[{ip}]")
    return found


def _own_address() -> str | None:
    """This machine's own non-loopback IPv4 address, if it has one."""
    return next((a for a in _own_addresses() if "[" not in a and not ipaddress.ip_address(a).is_loopback), None)


@contextlib.contextmanager
def _serve(host: str, *extra: str, token: str | None = None) -> Iterator[tuple[str, str]]:
    """A real `connscope serve` bound to `host`; yields its base URL and what it printed."""
    env = {k: v for k, v in os.environ.items() if k != "CONNSCOPE_TOKEN"}
    if token is not None:
        env["CONNSCOPE_TOKEN"] = token
    with dashboard_process(*extra, host=host, env=env) as (url, _, log):
        yield url, log.read_text()


@pytest.fixture(scope="module")
def room() -> Iterator[tuple[str, str]]:
    """The dashboard bound to this machine's own non-loopback address, as in a classroom.

    A real bind, not a flag that pretends: the token is required because the listening
    socket is off loopback. The traffic still never leaves the machine (its own address)."""
    address = _own_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to bind to")
    with _serve(address, token=TOKEN) as served:
        yield served


def test_off_loopback_prints_the_control_and_audience_links(room: tuple[str, str]) -> None:
    url, printed = room
    link = re.escape(f"{url}/?ticket=")
    assert re.search(rf"control link, for you only, works once \(the next shows here\): {link}\S+", printed)
    assert f"audience link, read-only:   {url}/" in printed
    # A token the operator chose is not shown again on the screen they come back to.
    assert "API token, for scripts:     the one CONNSCOPE_TOKEN gives (Authorization: Bearer …)" in printed
    assert TOKEN not in printed, "no link holds the token: a browser keeps every link in its history"


def test_the_control_link_works_once_and_the_next_is_printed() -> None:
    """A browser suggests every address it opened as the user types, on the projected
    screen too: a used control link must give nothing to whoever sees it there."""
    address = _own_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to bind to")
    env = {k: v for k, v in os.environ.items() if k != "CONNSCOPE_TOKEN"} | {"CONNSCOPE_TOKEN": TOKEN}
    with dashboard_process(host=address, env=env) as (url, _, log):

        def links() -> list[str]:
            return re.findall(r"works once \(the next shows here\): (\S+)", log.read_text())

        (first,) = links()
        ticket = first.rsplit("=", 1)[1]
        # Opening the link (as a chat app's preview or a mail scanner would) uses nothing and
        # shows no token: the page's script exchanges the ticket.
        for _ in range(2):
            opened = httpx.get(first, timeout=10)
            assert opened.status_code == 200 and TOKEN not in opened.text and "/control/ticket" in opened.text
        assert httpx.head(first, timeout=10).status_code == 200

        def exchange(ticket: str, **headers: str) -> httpx.Response:
            return httpx.post(f"{url}/control/ticket", headers={"X-Connscope-Ticket": ticket, **headers}, timeout=10)

        # Another site's page, or another port's, cannot exchange one (nor does it know one);
        # no answer to a preflight lets a browser send the ticket's header across origins.
        port = httpx.URL(url).port
        for foreign in (
            {"Origin": "http://evil.example"},
            {"Origin": "null"},
            {"Origin": f"http://{address}:{port + 1}"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
        ):
            assert exchange(ticket, **foreign).status_code == 403, foreign
        preflight = httpx.options(f"{url}/control/ticket", headers={"Origin": "http://evil.example"}, timeout=10)
        assert not [h for h in preflight.headers if h.lower().startswith("access-control-allow")]
        taken = exchange(ticket, Origin=url)
        assert taken.status_code == 200 and taken.json() == {"token": TOKEN}
        assert taken.headers["content-type"] == "application/json"
        assert "no-store" in taken.headers["cache-control"] and "connscope_view" in taken.headers["set-cookie"]
        again = exchange(ticket)
        assert again.status_code == 403 and "this control link has been used" in again.text
        assert TOKEN not in again.text
        opened_again = httpx.get(first, timeout=10)
        assert opened_again.status_code == 403 and TOKEN not in opened_again.text
        # Not a dead end: a link on to the dashboard, without the used ticket.
        assert '<a href="/">Open the dashboard</a>' in opened_again.text and ticket not in opened_again.text
        assert "no-store" in opened_again.headers["cache-control"]
        deadline = time.monotonic() + 5
        while len(links()) < 2:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        second = links()[1]
        assert second != first and exchange(second.rsplit("=", 1)[1]).status_code == 200
        # A made-up ticket is refused like a used one.
        assert httpx.get(f"{url}/?ticket=guess", timeout=10).status_code == 403
        # Its link on stays on the dashboard whatever the address a link-maker gave it, and
        # keeps the address's other parameters.
        for path, onward in (
            ("//evil.example/?ticket=guess", "/evil.example/"),
            # A backslash (which a browser reads as a slash) stays escaped: a path on this host.
            ("/%5Cevil.example?ticket=guess", "/%5Cevil.example"),
            ("/%5C/evil.example?ticket=guess", "/%5C/evil.example"),
            ("/compare?present=1&ticket=guess", "/compare?present=1"),
        ):
            refused = httpx.get(f"{url}{path}", timeout=10)
            assert refused.status_code == 403 and f'<a href="{onward}">' in refused.text, (path, refused.text)
        assert exchange("guess").status_code == 403
        # Neither the ticket nor a token beside it is put back in the address bar.
        third = links()[-1]
        page = httpx.get(f"{third}&token={TOKEN}&run=3", timeout=10)
        assert page.status_code == 200 and '"/?run=3"' in page.text and TOKEN not in page.text, page.text


def test_one_ticket_is_valid_at_a_time_and_a_closed_terminal_fails_no_request() -> None:
    from app.web.security import ControlTickets

    said: list[str] = []
    tickets = ControlTickets()
    tickets.announce = said.append
    first = tickets.mint()
    assert said == [first]
    assert not tickets.redeem("guess") and not tickets.redeem("")
    assert tickets.redeem(first) and not tickets.redeem(first), "once"
    second = said[-1]
    assert second != first and tickets.redeem(second)

    def closed(ticket: str) -> None:
        raise BrokenPipeError("the terminal is gone")

    tickets.announce = closed
    assert tickets.redeem(tickets.mint()), "the request still gets control"


def test_a_token_with_url_characters_still_works_in_a_link_and_as_bearer() -> None:
    address = _own_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to bind to")
    chosen = "a+b&c=d#e f"
    with _serve(address, token=chosen) as (url, printed):
        assert chosen not in printed
        page = httpx.get(f"{url}/", params={"token": chosen}, timeout=10)
        assert page.status_code == 200 and "sessionStorage" in page.text, page.text[:200]
        authorised = httpx.delete(f"{url}/api/targets/1", headers={"Authorization": f"Bearer {chosen}"}, timeout=10)
        assert authorised.status_code == 404  # past the check: there is no target 1


def test_a_generated_token_is_printed_and_works() -> None:
    address = _own_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to bind to")
    with _serve(address) as (url, printed):
        found = re.search(r"API token, for scripts: +(\S+)", printed)
        assert found is not None
        token = found.group(1)
        assert len(token) >= 32
        assert httpx.delete(f"{url}/api/targets/1", timeout=10).status_code == 403
        authorised = httpx.delete(f"{url}/api/targets/1", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert authorised.status_code == 404  # past the check: there is no target 1


def test_without_the_token_every_control_route_is_403_and_nothing_starts(room: tuple[str, str]) -> None:
    url, _ = room
    children = _children(url)
    targets = httpx.get(f"{url}/api/targets", timeout=10).json()
    port = httpx.URL(url).port
    for headers in (
        {},
        {"Origin": url},
        {"Authorization": "Bearer wrong"},
        {"X-Connscope-Token": "wrong"},
        {"X-Connscope-Token": ""},
        # The token in a cookie, under the old name or any other, is not a credential.
        {"Cookie": f"connscope_token_{port}={TOKEN}"},
        {"Cookie": f"connscope_token={TOKEN}; token={TOKEN}"},
        # The view cookie renders the forms, and grants nothing.
        {"Cookie": f"connscope_view_{port}=control", "Origin": url},
    ):
        for method, path, body in CONTROL_ROUTES:
            response = httpx.request(method, url + path, headers=headers, timeout=30, **body)
            assert response.status_code == 403, (headers, method, path, response.text)
            assert response.headers["content-type"].startswith("text/plain")
            assert "read-only audience view" in response.text
            assert "open the control link" in response.text, "it says how to get control"
    assert httpx.get(f"{url}/api/targets", timeout=10).json() == targets
    assert _children(url) == children


def test_without_the_token_the_audience_view_has_no_forms_and_the_stream_works(room: tuple[str, str]) -> None:
    url, _ = room
    for path in ("/", "/?present=1", "/partials/target", "/partials/scenario", "/partials/burst-panel"):
        page = httpx.get(url + path, timeout=10)
        assert page.status_code == 200, path
        forms = re.findall(r"<form\b[^>]*>", page.text)
        assert all('method="dialog"' in f for f in forms), (path, forms)
        assert not re.search(r"hx-(post|put|patch|delete)=", page.text), path
    index = httpx.get(url + "/", timeout=10).text
    assert 'data-control="off"' in index
    assert 'id="lanes"' in index and 'data-count="requests"' in index
    assert f'<a href="{url}/">{url}/</a>' in index, "the audience link, for presenter mode"
    assert "<svg viewBox=" in index and "QR code of the audience link" in index
    with connect(url.replace("http://", "ws://") + "/ws", open_timeout=10) as ws:
        assert '"type": "snapshot"' in ws.recv(timeout=10)


def _script_nonce(html: str) -> str:
    found = re.search(r'<script nonce="([^"]+)">', html)
    assert found is not None, html
    return found.group(1)


def test_the_control_link_puts_the_token_in_the_tab_never_in_a_cookie(room: tuple[str, str]) -> None:
    url, _ = room
    port = httpx.URL(url).port
    link = httpx.get(f"{url}/?token={TOKEN}&present=1", timeout=10)
    assert link.status_code == 200 and link.headers["content-type"].startswith("text/html")
    assert link.headers["cache-control"] == "no-store"
    # Its script stores the token for this origin and leaves the address without it.
    assert f'sessionStorage.setItem("connscope-token", "{TOKEN}")' in link.text
    assert 'location.replace("/?present=1")' in link.text
    assert f"'nonce-{_script_nonce(link.text)}'" in link.headers["content-security-policy"]
    cookies = link.headers.get_list("set-cookie")
    assert cookies == [f"connscope_view_{port}=control; HttpOnly; Path=/; SameSite=strict"]
    assert all(TOKEN not in c for c in cookies)
    sneaky = httpx.get(f"{url}//evil.example/?token={TOKEN}", timeout=10)
    assert 'location.replace("/evil.example/")' in sneaky.text, "never to another host"
    wrong = httpx.get(f"{url}/?token=not-it", timeout=10)
    assert wrong.status_code == 403 and "set-cookie" not in wrong.headers
    assert wrong.headers["content-type"].startswith("text/plain") and "control link" in wrong.text
    assert TOKEN not in wrong.text and "not-it" not in wrong.text

    # The view cookie renders the forms (another dashboard's does not) ...
    view = {f"connscope_view_{port}": "control"}
    assert 'data-control="on"' in httpx.get(url + "/", cookies=view, timeout=10).text
    other_port = httpx.get(url + "/", cookies={f"connscope_view_{port + 1}": "control"}, timeout=10)
    assert 'data-control="off"' in other_port.text

    # ... and the header, as static/js/token.js sends it, is what controls.
    header = {"X-Connscope-Token": TOKEN, "Origin": url}
    with httpx.Client(base_url=url, cookies=view, timeout=60) as presenter:
        page = presenter.get("/")
        assert 'data-control="on"' in page.text and 'id="target-form"' in page.text
        assert presenter.post("/targets", data={"loop": "asyncio", "handler": "async"}).status_code == 403
        started = presenter.post("/targets", data={"loop": "asyncio", "handler": "async"}, headers=header)
        assert started.status_code == 200 and 'data-target-state="ready"' in started.text
        target = httpx.get(f"{url}/api/targets", timeout=10).json()[-1]
        assert target["state"] == "ready"
        stopped = presenter.post("/targets/current/stop", headers=header)
        assert stopped.status_code == 200
        assert httpx.get(f"{url}/api/targets/{target['id']}", timeout=10).json()["state"] != "ready"
        # The token does not excuse another origin.
        evil = header | {"Origin": "http://evil.example"}
        assert presenter.post("/targets/current/restart", headers=evil).status_code == 403
    # The header alone (no view cookie) renders the control view too: htmx's partials.
    assert 'id="target-form"' in httpx.get(f"{url}/partials/target", headers=header, timeout=10).text
    assert 'id="target-form"' not in httpx.get(f"{url}/partials/target", timeout=10).text


def test_bearer_token_controls_the_api(room: tuple[str, str]) -> None:
    url, _ = room
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    created = httpx.post(f"{url}/api/targets", json={"loop": "asyncio", "handler_ms": 10}, headers=bearer, timeout=60)
    assert created.status_code == 201 and created.json()["state"] == "ready"
    target = created.json()
    burst = httpx.post(f"{url}/api/targets/{target['id']}/bursts", json={"connections": 2}, headers=bearer, timeout=10)
    assert burst.status_code == 202
    assert httpx.delete(f"{url}/api/targets/{target['id']}", timeout=10).status_code == 403
    stopped = httpx.delete(f"{url}/api/targets/{target['id']}", headers=bearer, timeout=30)
    assert stopped.status_code == 200 and stopped.json()["state"] != "ready"


def test_vendor_serves_the_page_assets_and_not_the_bundler(dashboard: str) -> None:
    from app.assets import ASSETS

    for asset in ASSETS:
        if not asset.file.is_file():
            continue
        code = httpx.get(f"{dashboard}{asset.local}", timeout=10).status_code
        # The export's bundler binary is a build tool: no page loads it, so none may fetch it.
        assert code == (404 if asset.kind == "build" else 200), (asset.local, code)


def test_the_middleware_takes_the_token_from_a_header_only() -> None:
    """In process, for every way a request may present the token: only a header grants."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from app.web.security import SecurityMiddleware

    def whoami(request: Request) -> PlainTextResponse:
        return PlainTextResponse("control" if request.state.control else "audience")

    app = Starlette(routes=[Route("/", whoami, methods=["GET", "POST"])])

    async def check() -> None:
        served = SecurityMiddleware(app, Access.for_bind("192.0.2.1", 8123, token=TOKEN))
        transport = httpx.ASGITransport(app=served)
        async with httpx.AsyncClient(transport=transport, base_url="http://192.0.2.1:8123") as client:
            for headers in ({"X-Connscope-Token": TOKEN}, {"Authorization": f"Bearer {TOKEN}"}):
                assert (await client.post("/", headers=headers)).text == "control", headers
            for headers in (
                {},
                {"X-Connscope-Token": TOKEN[:-1]},
                {"Authorization": f"Basic {TOKEN}"},
                {"Cookie": f"connscope_token_8123={TOKEN}"},
                {"Cookie": "connscope_view_8123=control"},
            ):
                response = await client.post("/", headers=headers)
                assert response.status_code == 403 and "open the control link" in response.text, headers
            view = {"Cookie": "connscope_view_8123=control"}
            assert (await client.get("/")).text == "audience"
            assert (await client.get("/", headers=view)).text == "control"
            assert (await client.get("/", headers={"Cookie": "connscope_view_8123=yes"})).text == "audience"
            assert (await client.get("/", headers={"X-Connscope-Token": TOKEN})).text == "control"
            # A page another site opens, even one on another port of this host, is the audience's.
            for site in ("same-site", "cross-site"):
                opened = await client.get("/", headers=view | {"Sec-Fetch-Site": site})
                assert opened.text == "audience", site
                assert opened.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            for site in ("same-origin", "none"):
                assert (await client.get("/", headers=view | {"Sec-Fetch-Site": site})).text == "control", site
        # On loopback nothing is needed.
        loopback = httpx.ASGITransport(app=SecurityMiddleware(app, Access.for_bind("127.0.0.1", 8123)))
        async with httpx.AsyncClient(transport=loopback, base_url="http://127.0.0.1:8123") as client:
            assert (await client.post("/")).text == "control" and (await client.get("/")).text == "control"

    asyncio.run(check())
