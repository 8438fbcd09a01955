"""Report downloads render one at a time: a page (or a script) asking for many comparison
reports at once must not run many matplotlib renders side by side (seconds of CPU each,
pyplot's global state shared across threads, the thread pool every store read waits on)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import report
from app.store import ComparisonStore, RunStore
from app.web.app import create_app
from app.web.reports import MAX_WAITING
from tests.test_report import connscope

pytestmark = pytest.mark.target


def test_comparison_reports_render_one_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "runs.sqlite3"
    done = connscope(
        "run",
        *("--connections", "4", "--pattern", "rate", "--rate", "40", "--handler-ms", "10", "--loop", "asyncio"),
        *("--record", "--store", str(path)),
    )
    assert done.returncode == 0, done.stderr
    run_id = int(re.search(r"recorded as run (\d+)", done.stderr).group(1))  # type: ignore[union-attr]
    comparison_id = ComparisonStore(RunStore(path)).save(run_id, run_id, "sequential", "the run against itself")

    rendering, most = 0, 0
    guard = threading.Lock()
    real = report.render

    def watched(kind: str, record: Any, out_dir: Path) -> Path:
        nonlocal rendering, most
        with guard:
            rendering += 1
            most = max(most, rendering)
        try:
            time.sleep(0.2)  # long enough for the other requests to arrive while this one renders
            return real(kind, record, out_dir)
        finally:
            with guard:
                rendering -= 1

    monkeypatch.setattr(report, "render", watched)

    async def go() -> list[httpx.Response]:
        app = create_app(store=RunStore(path))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
                url = f"/api/comparisons/{comparison_id}/report"
                return await asyncio.gather(*(client.get(url, timeout=60) for _ in range(4)))

    answers = asyncio.run(go())
    assert [a.status_code for a in answers] == [200] * 4
    assert all(a.text.startswith("#") for a in answers)
    assert most == 1, f"{most} comparison reports rendered at once"


PATH_PAYLOAD = "/<img/src=x/onerror=alert(1)>|x"
UNESCAPED = re.compile(r"(?<!\\)[<>]")


def test_a_typed_path_is_text_in_the_sweep_and_comparison_reports(tmp_path: Path) -> None:
    """A burst's path may hold `<`, `>` and `|`: pasted into a ticket, the report must not
    carry it as live HTML, nor let it break a table."""
    store = tmp_path / "runs.sqlite3"
    swept = connscope(
        "sweep",
        *("--path", f"/a,{PATH_PAYLOAD}", "--connections", "1", "--handler-ms", "5", "--loop", "asyncio"),
        *("--report", str(tmp_path / "sweep"), "--store", str(store)),
    )
    assert swept.returncode == 0, swept.stderr
    sweep_md = (tmp_path / "sweep" / "report.md").read_text()
    assert PATH_PAYLOAD not in sweep_md and UNESCAPED.findall(sweep_md) == []
    row = next(line for line in sweep_md.splitlines() if line.startswith("| /\\<img"))
    assert len(re.findall(r"(?<!\\)\|", row)) == len(
        re.findall(r"(?<!\\)\|", sweep_md.split("## Results")[1].split("\n")[2])
    )

    run_a, run_b = (int(n) for n in re.findall(r"^(\d+)\t", connscope("runs", "--store", str(store)).stdout, re.M)[:2])
    comparison_id = ComparisonStore(RunStore(store)).save(run_a, run_b, "sequential", "two paths")
    out = tmp_path / "comparison" / "report.md"
    out.parent.mkdir()
    done = connscope("report", f"comparison:{comparison_id}", "-o", str(out), "--store", str(store))
    assert done.returncode == 0, done.stderr
    compare_md = out.read_text()
    assert "The bursts differ: path" in compare_md
    assert PATH_PAYLOAD not in compare_md and UNESCAPED.findall(compare_md) == []


def test_report_downloads_past_the_queue_are_told_to_come_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A download is a GET any page can make a browser send: the queue behind the one render
    is short, and the rest get 429 with Retry-After instead of piling up."""
    path = tmp_path / "runs.sqlite3"
    done = connscope(
        "run",
        *("--connections", "2", "--pattern", "rate", "--rate", "40", "--handler-ms", "10", "--loop", "asyncio"),
        *("--record", "--store", str(path)),
    )
    assert done.returncode == 0, done.stderr
    run_id = int(re.search(r"recorded as run (\d+)", done.stderr).group(1))  # type: ignore[union-attr]
    comparison_id = ComparisonStore(RunStore(path)).save(run_id, run_id, "sequential", "the run against itself")
    real = report.render

    def slow(kind: str, record: Any, out_dir: Path) -> Path:
        time.sleep(0.3)  # every request arrives while the first renders
        return real(kind, record, out_dir)

    monkeypatch.setattr(report, "render", slow)

    async def go() -> list[httpx.Response]:
        app = create_app(store=RunStore(path))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
                url = f"/api/comparisons/{comparison_id}/report?format=json"
                return await asyncio.gather(*(client.get(url, timeout=60) for _ in range(MAX_WAITING + 3)))

    answers = asyncio.run(go())
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * MAX_WAITING + [429] * 3
    busy = next(a for a in answers if a.status_code == 429)
    assert busy.headers["retry-after"] and busy.headers["content-type"].startswith("text/plain")
