"""A setting that is on, off or left to its default reads so in every form, while the value
posted stays what share links and the CLI write (0/1). In-process through httpx's ASGI
transport: no target is started."""

from __future__ import annotations

import asyncio
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx

from app.store import RunStore
from app.web.app import create_app

BASE = "http://127.0.0.1:8000"
OPTIONAL_BOOLS = ("http1_keep_alive", "tcp_abort_on_overflow")


class Selects(HTMLParser):
    """Each select's options by the select's id: (value, text shown, selected)."""

    def __init__(self) -> None:
        super().__init__()
        self.selects: dict[str, list[tuple[str, str, bool]]] = {}
        self._select: str | None = None
        self._option: tuple[str, bool] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "select":
            self._select = found["id"] or ""
            self.selects[self._select] = []
        elif tag == "option" and self._select is not None:
            self._option = (found.get("value") or "", "selected" in found)

    def handle_data(self, data: str) -> None:
        if self._select is not None and self._option is not None and data.strip():
            value, selected = self._option
            self.selects[self._select].append((value, data.strip(), selected))
            self._option = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def _get(tmp_path: Path, *paths: str) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        app = create_app(store=RunStore(tmp_path / "runs.sqlite3"))
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
                return [await client.get(path) for path in paths]

    return asyncio.run(go())


def _selects(html: str) -> dict[str, list[tuple[str, str, bool]]]:
    parser = Selects()
    parser.feed(html)
    return parser.selects


def test_on_off_settings_read_on_and_off_and_post_0_and_1(tmp_path: Path) -> None:
    # A share link with the values the select posts: accepted (no inline error), and shown.
    dashboard, compare = _get(tmp_path, "/?t.server=granian&t.http1_keep_alive=0&t.tcp_abort_on_overflow=1", "/compare")
    assert dashboard.status_code == 200 and 'class="error"' not in dashboard.text, "0 and 1 are accepted"
    selects = _selects(dashboard.text)
    assert selects["target-http1_keep_alive"] == [
        ("", "Granian's default, on", False),
        ("0", "off", True),
        ("1", "on", False),
    ]
    assert selects["target-tcp_abort_on_overflow"] == [("", "host's", False), ("0", "off", False), ("1", "on", True)]
    side = _selects(compare.text)
    for name in OPTIONAL_BOOLS:
        assert [text for _, text, _ in side[f"a-{name}"]][1:] == ["off", "on"], name
    # No select anywhere offers a bare 0 or 1 to read.
    for html in (dashboard.text, compare.text):
        for select, options in _selects(html).items():
            assert not {text for _, text, _ in options} & {"0", "1"}, select


def test_the_sweep_form_says_what_0_and_1_mean(tmp_path: Path) -> None:
    (form,) = _get(tmp_path, "/sweeps/new")
    hint = re.search(r'id="sweep-http1_keep_alive-hint">(.*?)</small>', form.text, re.S)
    assert hint is not None and "One or more of 0 (off), 1 (on)." in hint.group(1)
    assert "Granian&#39;s default, on" in hint.group(1)
