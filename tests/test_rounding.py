"""One rounding rule per quantity wherever a user reads it: a run's milliseconds and 503
share read the same on its replay page, in its report (table and finding) and on the live
page (static/js/numbers.js, the same rule as app/numbers.py). Stored values stay whole."""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cli import run_async
from app.experiment import run_once
from app.numbers import ms_text, percent_text, three_digits
from app.result import RunResult
from app.sandbox.settings import TargetSettings
from app.store import RunStore
from app.traffic.spec import BurstSpec
from app.web.app import create_app

BASE = "http://127.0.0.1:8000"
KEYS = ("p50", "p90", "p99", "p99_9", "max")


def test_the_rule_reads_as_the_finding_always_said_it() -> None:
    assert [ms_text(v) for v in (304.788, 304.5, 62.456, 1.2345, 0.0923, 12_345.6)] == [
        "305",
        "305",
        "62.5",
        "1.23",
        "0.0923",
        "12,346",
    ]
    assert [percent_text(v) for v in (62.5, 62.04, 0.04, 99.96, 100.0, 0.0)] == [
        "62.5%",
        "62%",
        "0.04%",
        "99.9%",
        "100%",
        "0%",
    ]
    assert three_digits(304.788) == 305 and three_digits(12.345) == 12.3


def _pages(tmp_path: Path, result: RunResult) -> tuple[str, str]:
    """The run's replay page and its report's Markdown, as the dashboard serves them."""

    async def go() -> tuple[str, str]:
        store = RunStore(tmp_path / "runs.sqlite3")
        run_id = store.save(result)
        app = create_app(store=store)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
                page = await client.get(f"/runs/{run_id}")
                report = await client.get(f"/runs/{run_id}/report")
        assert page.status_code == report.status_code == 200
        with zipfile.ZipFile(io.BytesIO(report.content)) as archive:
            return page.text, archive.read("report.md").decode()

    return asyncio.run(go())


@pytest.mark.target
def test_a_run_reads_the_same_on_its_replay_page_and_in_its_report(tmp_path: Path) -> None:
    # Two slots, requests holding 150 ms, arrivals every 12.5 ms: some 503s, a tail of ms.
    result = run_async(
        lambda: run_once(
            TargetSettings(limit_concurrency=2, handler="async", handler_ms=150, loop="asyncio"),
            BurstSpec(connections=24, pattern="rate", rate=80),
        )
    )
    assert 0 < result.totals.rejected < result.totals.requests
    page, report = _pages(tmp_path, result)
    row = next(line for line in report.splitlines() if line.startswith("| latency"))
    in_report = [cell.strip() for cell in row.strip("|").split("|")[1:]]
    on_page = [re.search(rf'data-percentile="latency-{key}" data-value="([^"]*)">([^<]*)<', page) for key in KEYS]
    assert all(on_page), page
    stored = result.latency_ms.model_dump()
    for key, shown, cell in zip(KEYS, on_page, in_report, strict=True):
        assert shown is not None
        assert shown.group(1) == str(stored[key]), "the page keeps the stored value for scripts"
        assert shown.group(2) == cell == ms_text(stored[key]), key
    # The finding quotes the same p99 and the same 503 share the results table shows.
    share = percent_text(100 * result.totals.rejected / result.totals.requests)
    assert f"p99 is {ms_text(stored['p99'])} ms" in report
    assert f"turns away {share} (" in report and f"| rejected | {result.totals.rejected:,} | {share} |" in report


def test_the_live_page_rounds_as_the_server_does(dashboard: str, page: Any) -> None:
    values = [304.788, 304.5, 99.96, 99.94, 62.456, 12.25, 9.996, 1.2345, 0.0923, 12_345.6, 0]
    page.goto(f"{dashboard}/")
    shown = page.evaluate(
        "async (values) => { const m = await import('/static/js/numbers.js'); return values.map(m.formatMs); }",
        values,
    )
    assert shown == [ms_text(v) for v in values]
