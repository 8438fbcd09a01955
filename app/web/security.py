"""Who may reach the dashboard and who may change anything.

A pure ASGI middleware in front of every route and the WebSocket:

- Host allowlist: the loopback names on the served port, the address it is bound to, and
  the names the operator passes with `--allow-host`. Anything else is a DNS-rebinding
  attempt or a mistake: 400.
- Same origin for every state-changing request (POST/PUT/PATCH/DELETE) and the WebSocket
  handshake: a browser's `Sec-Fetch-Site`, `Origin` (or, without one, `Referer`) must say the
  request comes from the dashboard's own page. Requests with neither (curl, API clients)
  pass: no browser sent them on someone else's behalf.
- Off loopback, every state-changing request needs the token in a header: `X-Connscope-Token`
  from the page, `Authorization: Bearer` from API clients. Never in a cookie: browsers do not
  keep cookies apart by port, so every other server on the same host name would receive it.
  The printed control link answers with a page that puts the token in the tab's
  sessionStorage (scoped to this origin, port included; static/js/token.js sends it) and a
  view cookie that grants nothing: it only makes the pages render their forms
  (`scope["state"]["control"]`). Without either a request gets the read-only audience view
  (the templates render no forms), and without the header 403 on every state-changing route.
- Headers on every response: nosniff, `Referrer-Policy: same-origin`,
  `Cross-Origin-Opener-Policy: same-origin`, and on HTML a
  Content-Security-Policy with a nonce per response (`scope["state"]["csp_nonce"]`).
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import json
import secrets
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import psutil
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_ENV = "CONNSCOPE_TOKEN"
TOKEN_HEADER = "X-Connscope-Token"
"""The page's header: not `Authorization`, which a reverse proxy's Basic auth may be using."""
TOKEN_STORAGE_KEY = "connscope-token"
"""The sessionStorage key static/js/token.js reads."""
VIEW_COOKIE = "connscope_view"
"""Says "render the forms" and nothing more: anyone may set it (any server on this host
name can), so it grants nothing. Suffixed with the port: two dashboards on one machine."""
VIEW_CONTROL = "control"
TOKEN_PARAM = "token"
TICKET_PARAM = "ticket"
TICKET_PATH = "/control/ticket"
"""Where the control link's page exchanges its ticket for the token (a POST, from its script:
a chat app's preview or a mail scanner that GETs the link runs no script and uses nothing)."""
TICKET_HEADER = "X-Connscope-Ticket"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARD = ("0.0.0.0", "::", "")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What a browser says about where a request comes from: only the dashboard's own page
# (same-origin) or the user typing an address (none) may change anything.
TRUSTED_FETCH_SITES = frozenset({"same-origin", "none"})


def view_cookie(connection: HTTPConnection) -> str:
    """The view cookie's name for the dashboard this request reached."""
    port = connection.url.port or (443 if connection.url.scheme in ("https", "wss") else 80)
    return f"{VIEW_COOKIE}_{port}"


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_literal(address: str) -> str:
    """An address as it appears in a Host header: IPv6 in brackets, without a zone."""
    address = address.split("%", 1)[0].strip("[]").lower()
    try:
        return f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    except ValueError:
        return address


def _has_port(name: str) -> bool:
    return name.rsplit("]", 1)[-1].count(":") == 1


def _interface_addresses() -> list[str]:
    """This machine's own addresses, the ones a wildcard bind answers on (link-local IPv6
    needs a zone no browser puts in a Host header)."""
    found = []
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            ip = ipaddress.ip_address(address.address.split("%", 1)[0])
            if not ip.is_link_local:
                found.append(str(ip))
    return found


class ControlTickets:
    """One-time control links. A browser keeps every address it opened in its history and
    suggests it as the user types, on a projected screen too: a link holding the token
    would hand control to the room. One ticket is valid at a time; it is exchanged for the
    token once, and using it mints the next, said (`announce`) where the operator read the
    first."""

    def __init__(self) -> None:
        self._valid: str | None = None
        self.announce: Callable[[str], None] = lambda ticket: None

    def mint(self) -> str:
        self._valid = ticket = secrets.token_urlsafe(18)
        try:
            self.announce(ticket)
        except OSError:
            # The terminal is gone: the link cannot be said, and control stays with the
            # token (`?token=` or the API's header); a request never fails for it.
            pass
        return ticket

    def valid(self, presented: str) -> bool:
        return self._valid is not None and hmac.compare_digest(self._valid.encode(), presented.encode())

    def redeem(self, presented: str) -> bool:
        if not self.valid(presented):
            return False
        self.mint()
        return True


@dataclass(frozen=True, slots=True)
class Access:
    """The Host headers served, and the token control needs (None on loopback)."""

    hosts: frozenset[str]
    token: str | None = None
    audience_url: str | None = None
    """Off loopback: the link for the room (no token), shown in presenter mode."""
    tickets: ControlTickets | None = None
    """Off loopback: the one-time control links."""

    @classmethod
    def for_bind(cls, host: str, port: int, allow: Iterable[str] = (), token: str | None = None) -> Access:
        names = set(LOOPBACK_NAMES)
        audience: str | None = None
        loopback = is_loopback(host)
        if not loopback:
            addresses = _interface_addresses() if host in WILDCARD else [host]
            names.update(_host_literal(a) for a in addresses)
            public = [a for a in addresses if not is_loopback(a)]
            # A wildcard bind answers on every address: the room gets the first IPv4 one.
            public.sort(key=lambda a: ":" in a)
            audience = f"http://{_host_literal(public[0]) if public else socket.gethostname()}:{port}/"
        hosts = {f"{name}:{port}" for name in names}
        if port == 80:
            hosts.update(names)
        for name in allow:
            name = _host_literal(name)
            # A bare name may come through a reverse proxy on its own port: both forms.
            hosts.update((name,) if _has_port(name) else (name, f"{name}:{port}"))
        if loopback:
            return cls(frozenset(hosts))
        return cls(frozenset(hosts), token or secrets.token_urlsafe(24), audience, ControlTickets())

    @property
    def needs_token(self) -> bool:
        return self.token is not None

    def allows_host(self, host: str) -> bool:
        return host.lower() in self.hosts

    def grants(self, presented: str | None) -> bool:
        if self.token is None:
            return True
        return presented is not None and hmac.compare_digest(presented.encode(), self.token.encode())


def content_security_policy(nonce: str, scripts: Sequence[str], styles: Sequence[str]) -> str:
    """Scripts only from this origin and the nonce of this response. The pinned CDN files
    are fetched (connect-src) and checked against their SRI hash by static/js/assets.js,
    which runs them with the page's nonce; stylesheets link to the CDN with SRI."""
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", f"'nonce-{nonce}'"],
        "style-src": ["'self'", *styles],
        # uPlot sizes its legend and cursor with style attributes; attributes cannot run code.
        "style-src-attr": ["'unsafe-inline'"],
        "connect-src": ["'self'", *scripts],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


class SecurityMiddleware:
    def __init__(
        self, app: ASGIApp, access: Access, cdn_scripts: Sequence[str] = (), cdn_styles: Sequence[str] = ()
    ) -> None:
        self.app = app
        self.access = access
        self.cdn_scripts = tuple(cdn_scripts)
        self.cdn_styles = tuple(cdn_styles)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        send = self._with_headers(send, nonce)
        connection = HTTPConnection(scope)
        refusal = self._refusal(connection, nonce)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        # The view cookie renders the forms only on the dashboard's own navigations (or one
        # the user typed): a page another site opens (a popup it keeps a handle on) is the
        # audience view, so no control page of it loads token.js to ask the open tabs for
        # the token.
        state["control"] = self.access.grants(_credential(connection)) or (
            connection.cookies.get(view_cookie(connection)) == VIEW_CONTROL
            and connection.headers.get("sec-fetch-site", "none") in TRUSTED_FETCH_SITES
        )
        state["csp_nonce"] = nonce
        state["audience_url"] = self.access.audience_url
        await self.app(scope, receive, send)

    def _refusal(self, connection: HTTPConnection, nonce: str) -> Response | None:
        if not self.access.allows_host(connection.headers.get("host", "")):
            return _plain(
                "This Host is not served here: open the dashboard by the address it printed, "
                "or start it with --allow-host NAME.",
                400,
            )
        method = connection.scope.get("method", "GET")
        if connection.scope["type"] == "websocket" or method in STATE_CHANGING:
            why = _cross_origin(connection)
            if why is not None:
                return _plain(f"Refused: {why}.", 403)
        if method == "POST" and connection.url.path == TICKET_PATH and self.access.tickets is not None:
            return self._exchange(connection, self.access.tickets)
        if method in STATE_CHANGING and not self.access.grants(_credential(connection)):
            return _plain(
                "Refused: this is the read-only audience view. For control, open the control link "
                "`connscope serve` printed last (http://HOST:PORT/?ticket=...); the API takes Authorization: Bearer.",
                403,
            )
        if self.access.needs_token and connection.scope["type"] == "http" and method in ("GET", "HEAD"):
            if TICKET_PARAM in connection.query_params:
                return self._ticket_link(connection, nonce)
            if TOKEN_PARAM in connection.query_params:
                return self._token_link(connection, nonce)
        return None

    def _ticket_link(self, connection: HTTPConnection, nonce: str) -> Response:
        """The control link `connscope serve` prints: a page that uses its ticket (once) from
        its script. The GET itself uses nothing and holds no token."""
        tickets = self.access.tickets
        ticket = connection.query_params[TICKET_PARAM]
        if tickets is None or not tickets.valid(ticket):
            # Most often the address bar suggested the link from the history: the way on is
            # a link to the same page without it (what typing the address gives), not a
            # dead end.
            onward = html.escape(_without_credentials(connection))
            return HTMLResponse(
                USED_PAGE.format(used=html.escape(USED), onward=onward), 403, {"Cache-Control": "no-store"}
            )
        page = TICKET_PAGE.format(
            nonce=nonce,
            key=_script_literal(TOKEN_STORAGE_KEY),
            path=_script_literal(TICKET_PATH),
            header=_script_literal(TICKET_HEADER),
            ticket=_script_literal(ticket),
            location=_script_literal(_without_credentials(connection)),
        )
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    def _exchange(self, connection: HTTPConnection, tickets: ControlTickets) -> Response:
        """The ticket for the token, once; the view cookie with it."""
        if not tickets.redeem(connection.headers.get(TICKET_HEADER, "")):
            return _plain(USED, 403)
        assert self.access.token is not None
        response = JSONResponse({"token": self.access.token}, headers={"Cache-Control": "no-store"})
        _set_view_cookie(response, connection)
        return response

    def _token_link(self, connection: HTTPConnection, nonce: str) -> Response:
        """A link with the token itself (scripts, or a token the operator chose): it works
        every time, and stays in the browser's history."""
        if not self.access.grants(connection.query_params[TOKEN_PARAM]):
            return _plain(
                "Refused: this link's token is not this dashboard's. Open the control link "
                "`connscope serve` printed, or the link with no ?token= for the audience view.",
                403,
            )
        return self._control_page(connection, nonce)

    def _control_page(self, connection: HTTPConnection, nonce: str) -> Response:
        """A page whose script puts the token in this tab's storage and takes the link out of
        the address bar (`location.replace`: not out of the browser's history)."""
        assert self.access.token is not None
        response = HTMLResponse(
            TOKEN_PAGE.format(
                nonce=nonce,
                key=_script_literal(TOKEN_STORAGE_KEY),
                token=_script_literal(self.access.token),
                location=_script_literal(_without_credentials(connection)),
            ),
            headers={"Cache-Control": "no-store"},
        )
        _set_view_cookie(response, connection)
        return response

    def _with_headers(self, send: Send, nonce: str) -> Send:
        async def sender(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                # A window another site opened keeps no handle on the dashboard's.
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                if headers.get("content-type", "").startswith("text/html"):
                    headers["Content-Security-Policy"] = content_security_policy(
                        nonce, self.cdn_scripts, self.cdn_styles
                    )
            await send(message)

        return sender


USED = (
    "Refused: this control link has been used. Each works once, so one a browser keeps in its "
    "history gives nothing: the terminal that started connscope shows the next."
)


def _without_credentials(connection: HTTPConnection) -> str:
    """Where a control link's page goes on: the same page, with neither a ticket nor a token
    in the address bar (nor, after the jump, in the history)."""
    rest = [(k, v) for k, v in connection.query_params.multi_items() if k not in (TICKET_PARAM, TOKEN_PARAM)]
    # One leading slash: "//name", or "/\name" (a browser reads a backslash as a slash), would
    # send the browser to another host.
    return "/" + connection.url.path.lstrip("/\\") + (f"?{urlencode(rest)}" if rest else "")


def _set_view_cookie(response: Response, connection: HTTPConnection) -> None:
    response.set_cookie(
        view_cookie(connection),
        VIEW_CONTROL,
        httponly=True,
        samesite="strict",
        secure=connection.url.scheme == "https",
    )


USED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>connscope: control link used</title></head>
<body><p>{used}</p>
<p><a href="{onward}">Open the dashboard</a>: the audience view, or control where another tab of this
browser has it.</p>
</body></html>
"""

TICKET_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>connscope</title></head>
<body><p id="taking">Taking control…</p>
<noscript><p>Control needs JavaScript: the page keeps the token in this tab and sends it in a header.</p></noscript>
<script nonce="{nonce}">
function exchange() {{
  fetch({path}, {{ method: "POST", headers: {{ [{header}]: {ticket} }}, cache: "no-store" }})
    .then(async (response) => {{
      if (!response.ok) throw new Error((await response.text()).trim());
      return response.json();
    }})
    .then((granted) => {{
      sessionStorage.setItem({key}, granted.token);
      location.replace({location});
    }})
    .catch((error) => {{
      document.getElementById("taking").textContent = error.message;
    }});
}}
// A browser rendering the page ahead of its opening (prerender) waits until it is shown.
if (document.prerendering) document.addEventListener("prerenderingchange", exchange, {{ once: true }});
else exchange();
</script>
</body></html>
"""

TOKEN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>connscope</title></head>
<body><p id="taking">Taking control…</p>
<noscript><p>Control needs JavaScript: the page keeps the token in this tab and sends it in a header.</p></noscript>
<script nonce="{nonce}">
try {{
  sessionStorage.setItem({key}, {token});
  location.replace({location});
}} catch (e) {{
  document.getElementById("taking").textContent =
    "This browser keeps no storage for this page (" + e.name + "): control needs it.";
}}
</script>
</body></html>
"""


def _script_literal(text: str) -> str:
    """A string as a JavaScript literal inside <script>: no "</script>" can end it early."""
    return json.dumps(text).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _credential(connection: HTTPConnection) -> str | None:
    """The token a request presents: in a header only. A cookie would reach every server on
    this host name, whatever its port."""
    scheme, _, value = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return connection.headers.get(TOKEN_HEADER)


def _cross_origin(connection: HTTPConnection) -> str | None:
    """Why a browser request does not come from the dashboard's own page, or None."""
    site = connection.headers.get("sec-fetch-site")
    if site is not None and site not in TRUSTED_FETCH_SITES:
        return f"the browser says this request comes from another site (Sec-Fetch-Site: {site})"
    scheme = {"ws": "http", "wss": "https"}.get(connection.url.scheme, connection.url.scheme)
    own = f"{scheme}://{connection.headers.get('host', '')}".lower()
    origin = connection.headers.get("origin")
    if origin is not None:
        return None if origin.lower() == own else "the request comes from another origin"
    referer = connection.headers.get("referer")
    if referer is not None:
        parts = urlsplit(referer)
        return None if f"{parts.scheme}://{parts.netloc}".lower() == own else "the request comes from another page"
    return None


def _plain(text: str, status: int) -> Response:
    return PlainTextResponse(text + "\n", status_code=status)
