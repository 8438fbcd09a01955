"""Compare (A/B): two real targets in their own sandboxes fired the same burst, the diff
table, the recorded comparison, and two recorded runs side by side."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import serve_dashboard, start_target

pytestmark = pytest.mark.target

# A handler that holds its slot 300 ms on a pinned loop; arrivals 100 ms apart, so with
# limit_concurrency=1 none is ever admitted (the one place is the connection being admitted)
# and without a limit every one is served.
SLOW = {"handler": "async", "handler_ms": 300, "loop": "asyncio"}
BURST = {"connections": 4, "pattern": "rate", "rate": 10, "client_timeout_s": 10}


def compare(url: str, a: dict[str, Any], b: dict[str, Any], burst: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A comparison through the API, waited for to its end; its final status."""
    response = httpx.post(f"{url}/api/comparisons", json={"a": a, "b": b, "burst": burst, **extra}, timeout=120)
    assert response.status_code == 202, response.text
    started: dict[str, Any] = response.json()
    assert started["state"] == "running"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        view: dict[str, Any] = httpx.get(f"{url}/api/comparisons/live/{started['id']}", timeout=10).json()
        if view["state"] not in ("starting", "running"):
            assert view["state"] == "done", view
            return view
        time.sleep(0.2)
    raise TimeoutError("comparison not done")


def run(url: str, run_id: int) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{url}/api/runs/{run_id}", timeout=10).json()
    return result


@pytest.fixture(scope="module")
def limited(dashboard: str) -> dict[str, Any]:
    """limit_concurrency 1 (A) against no limit (B), one after the other."""
    return compare(dashboard, {**SLOW, "limit_concurrency": 1}, SLOW, BURST)


def test_both_sides_get_the_identical_schedule(dashboard: str, limited: dict[str, Any]) -> None:
    a, b = run(dashboard, limited["run_a"]), run(dashboard, limited["run_b"])
    assert a["burst"] == b["burst"] == {**a["burst"], **BURST}
    assert a["totals"]["connections"] == b["totals"]["connections"] == 4
    intended_a = [c["intended_ms"] for c in a["connections"]]
    intended_b = [c["intended_ms"] for c in b["connections"]]
    assert sorted(intended_a) == sorted(intended_b) == [0.0, 100.0, 200.0, 300.0]
    # Each side in its own sandbox: two targets, two processes.
    assert limited["a"]["id"] != limited["b"]["id"] and limited["a"]["pid"] != limited["b"]["pid"]
    assert limited["mode"] == "sequential" and limited["mode_label"] == "one after the other"


def test_both_targets_stop_once_the_comparison_is_recorded(dashboard: str, limited: dict[str, Any]) -> None:
    # No page has a Stop for them: they must not linger until the next start.
    deadline = time.monotonic() + 20
    for side in ("a", "b"):
        while (state := httpx.get(f"{dashboard}/api/targets/{limited[side]['id']}", timeout=10).json()["state"]) in (
            "starting",
            "ready",
            "stopping",
        ):
            assert time.monotonic() < deadline, (side, state)
            time.sleep(0.1)
        assert state in ("stopped", "exited"), (side, state)


def test_503s_only_on_the_limited_side_and_the_table_marks_the_other_better(
    dashboard: str, limited: dict[str, Any]
) -> None:
    a, b = run(dashboard, limited["run_a"]), run(dashboard, limited["run_b"])
    assert (a["totals"]["rejected"], a["totals"]["ok"]) == (4, 0)
    assert (b["totals"]["rejected"], b["totals"]["ok"]) == (0, 4)
    report = httpx.get(f"{dashboard}/api/comparisons/{limited['record_id']}", timeout=10).json()
    rows = {row["metric"]: row for row in report["diff"]}
    assert (rows["rejected_pct"]["a"], rows["rejected_pct"]["b"], rows["rejected_pct"]["better"]) == (100, 0, "b")
    assert rows["ok"]["better"] == "b" and rows["connections"]["better"] == "equal"
    assert rows["latency_p99"]["a"] == a["latency_ms"]["p99"] and rows["latency_p99"]["b"] == b["latency_ms"]["p99"]
    assert rows["peak_active"]["b"] == b["peaks"]["active"] >= 1
    assert report["settings_diff"] == [{"name": "limit_concurrency", "a": 1, "b": None, "only": None}]
    assert report["finding"].startswith("With 4 connections at 10 new connections/s and a 300 ms async handler")
    assert "limit 1 turns away 100% with 503" in report["finding"]
    assert "no limit turns away none" in report["finding"]


def test_the_comparison_is_recorded_and_listed_with_its_runs(dashboard: str, limited: dict[str, Any]) -> None:
    listed = httpx.get(f"{dashboard}/api/comparisons", timeout=10).json()
    mine = next(c for c in listed if c["id"] == limited["record_id"])
    assert (mine["run_a"], mine["run_b"], mine["mode"]) == (limited["run_a"], limited["run_b"], "sequential")
    page = httpx.get(f"{dashboard}/runs", timeout=10).text
    assert f'data-comparison="{limited["record_id"]}"' in page
    row = re.search(rf'<tr data-run="{limited["run_a"]}">.*?</tr>', page, re.S)
    assert row is not None and f"comparison {limited['record_id']}</a>, A" in row.group(0)
    assert 'data-kind="run"' in page or 'data-kind="comparison-side"' in page


def test_two_recorded_runs_side_by_side_with_their_settings_diff(dashboard: str, limited: dict[str, Any]) -> None:
    a, b = limited["run_a"], limited["run_b"]
    page = httpx.get(f"{dashboard}/runs/compare", params=[("run", b), ("run", a)], timeout=10)
    assert page.status_code == 200
    html = page.text
    # Ticked in any order, the earlier run is A.
    assert a < b and f"A · run {a}" in html and f"B · run {b}" in html
    differs = re.findall(r'<tr class="differs" data-differs data-setting="([a-z_]+)">(.*?)</tr>', html, re.S)
    assert [name for name, _ in differs] == ["limit_concurrency"]
    assert re.findall(r"<td>(.*?)</td>", differs[0][1]) == ["1", "none"]
    assert 'data-metric="rejected_pct" data-better="b"' in html
    assert "lockstep-scrub" in html
    one = httpx.get(f"{dashboard}/runs/compare", params={"run": a}, timeout=10)
    assert one.status_code == 422 and "Pick exactly two runs to compare (you picked 1)." in one.text


def test_the_html_export_carries_both_runs_and_no_network(dashboard: str, limited: dict[str, Any]) -> None:
    export = httpx.get(f"{dashboard}/api/comparisons/{limited['record_id']}/export", timeout=30)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/html")
    html = export.text
    assert 'id="connscope-runs"' in html and "startLockstep" in html
    assert not re.search(r'<(script|link)[^>]+(src|href)="(https?:)?//', html)


def test_at_the_same_time_is_said_in_the_result(dashboard: str) -> None:
    done = compare(
        dashboard, SLOW, {**SLOW, "backlog": 64}, {"connections": 3, "pattern": "rate", "rate": 10}, concurrent=True
    )
    assert done["mode"] == "concurrent"
    assert done["mode_label"] == "ran at the same time: they shared the CPU"
    report = httpx.get(f"{dashboard}/api/comparisons/{done['record_id']}", timeout=10).json()
    assert report["mode_label"] == "ran at the same time: they shared the CPU"
    html = httpx.get(f"{dashboard}/compare/{done['record_id']}", timeout=10).text
    assert "ran at the same time: they shared the CPU" in html
    a, b = run(dashboard, done["run_a"]), run(dashboard, done["run_b"])
    assert [c["intended_ms"] for c in a["connections"]] != [] and a["totals"]["ok"] == b["totals"]["ok"] == 3


def test_bad_input_is_refused_inline_and_the_running_target_stays(dashboard: str) -> None:
    target = start_target(dashboard, {"loop": "asyncio"})
    bad = httpx.post(
        f"{dashboard}/api/comparisons", json={"a": {"backlog": 0}, "b": {}, "burst": {"connections": 2}}, timeout=10
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"][:3] == ["body", "a", "backlog"]
    form = httpx.post(
        f"{dashboard}/compare", data={"a.backlog": "8", "b.backlog": "0", "burst.connections": "x"}, timeout=10
    )
    assert form.status_code == 422
    assert re.search(r'id="b-backlog-error"[^>]*>Must be at least 1\.<', form.text)
    assert 'id="burst-connections-error"' in form.text and 'id="a-backlog-error"' not in form.text
    still = httpx.get(f"{dashboard}/api/targets/{target['id']}", timeout=10).json()
    assert still["state"] == "ready" and still["pid"] == target["pid"]


def test_a_comparison_counts_as_two_target_starts() -> None:
    with serve_dashboard("--max-targets", "1") as url:
        target = start_target(url, {"loop": "asyncio"})
        over = httpx.post(f"{url}/api/comparisons", json={"a": {}, "b": {}, "burst": {"connections": 1}}, timeout=10)
        assert over.status_code == 422
        message = over.json()["detail"][0]["msg"]
        assert message.startswith("2 targets starting at once") and message.endswith(
            "is over the cap of 1; --max-targets raises it."
        )
        form = httpx.post(f"{url}/compare", data={"burst.connections": "1"}, timeout=10)
        assert form.status_code == 422 and "--max-targets raises it." in form.text
        still = httpx.get(f"{url}/api/targets/{target['id']}", timeout=10).json()
        assert still["state"] == "ready"


def test_a_new_target_supersedes_the_comparison(dashboard: str) -> None:
    started = httpx.post(
        f"{dashboard}/api/comparisons",
        # A's burst lasts 2.3 s: the new target (started at once) always cuts A's, not B's.
        json={"a": SLOW, "b": SLOW, "burst": {"connections": 3, "pattern": "rate", "rate": 1}},
        timeout=120,
    ).json()
    target = start_target(dashboard, {"loop": "asyncio"})
    view = httpx.get(f"{dashboard}/api/comparisons/live/{started['id']}", timeout=10).json()
    assert view["state"] == "interrupted" and view["record_id"] is None
    for side in ("a", "b"):
        gone = httpx.get(f"{dashboard}/api/targets/{started[side]['id']}", timeout=10).json()
        assert gone["state"] in ("stopped", "exited")
    assert [s["target"] for s in target["superseded"]] == [started["a"]["id"]]


def test_the_report_quotes_numbers_present_in_its_json(dashboard: str, limited: dict[str, Any], tmp_path: Path) -> None:
    from app.comparison import ComparisonRecord
    from app.report import compare as compare_report
    from app.result import RunResult

    a = RunResult.model_validate(run(dashboard, limited["run_a"]))
    b = RunResult.model_validate(run(dashboard, limited["run_b"]))
    from app.report.files import ReportFiles

    files = ReportFiles(tmp_path / "ab.md")
    path = compare_report.render(ComparisonRecord(a=a, b=b, id=limited["record_id"], mode="sequential"), files)
    assert path == files.markdown
    report = json.loads((tmp_path / "ab.json").read_text())
    markdown = path.read_text()
    assert report["finding"] in markdown and "| 503 rate | 100% | 0% | B |" in markdown
    # A side that turns everyone away answers fast: its latency is not called better.
    latency = [row for row in report["diff"] if row["metric"].startswith("latency_")]
    assert all(row["better"] is None for row in latency)
    # ...and says why, where "–" would read as "nothing to compare".
    judged = [row for row in latency if row["a"] is not None and row["b"] is not None]
    assert judged and all(row["unjudged"] == "503 rates differ" for row in judged)
    assert "| latency p99 |" in markdown and "| not judged (503 rates differ) |" in markdown
    connections = next(row for row in report["diff"] if row["metric"] == "connections")
    assert connections["unjudged"] is None and connections["better"] == "equal"
    # The same queue peaks on both sides are equal, 503 rates or not: "not judged" would
    # suggest a difference hidden.
    from app.comparison import diff_table

    same_peaks = b.model_copy(update={"peaks": a.peaks})
    rows = {row.metric: row for row in diff_table(a, same_peaks)}
    assert rows["rejected_pct"].a != rows["rejected_pct"].b
    assert (rows["peak_queued"].better, rows["peak_queued"].unjudged) == ("equal", None)
    # Written as the run's own report and the compare page write it.
    assert "| **limit_concurrency** | 1 | none |" in markdown
    # Every figure the finding says (not a name: "p99", "503" the status).
    numbers = set(re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w])", report["finding"].replace("with 503", "")))
    assert numbers >= {"4", "10", "300", "1", "100"}

    def values(node: Any) -> set[str]:
        if isinstance(node, dict):
            return set().union(*(values(v) for v in node.values())) if node else set()
        if isinstance(node, list):
            return set().union(*(values(v) for v in node)) if node else set()
        return {f"{node:g}"} if isinstance(node, (int, float)) and not isinstance(node, bool) else set()

    assert numbers <= values(report), numbers - values(report)
    assert f"p99 is {report['a']['latency_ms']['p99']:g} ms" in report["finding"]
    assert f"p99 is {report['b']['latency_ms']['p99']:g} ms" in report["finding"]
    png = tmp_path / "ab.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({png.name})" in markdown
    served = httpx.get(f"{dashboard}/api/comparisons/{limited['record_id']}/report", timeout=30)
    assert served.status_code == 200 and report["finding"] in served.text
    served_json = httpx.get(f"{dashboard}/api/comparisons/{limited['record_id']}/report?format=json", timeout=30)
    assert served_json.json()["finding"] == report["finding"]
    # The page's download: the Markdown with the plot its image link names, and the JSON.
    served_zip = httpx.get(f"{dashboard}/api/comparisons/{limited['record_id']}/report?format=zip", timeout=30)
    assert served_zip.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(served_zip.content)) as archive:
        assert sorted(archive.namelist()) == ["report.json", "report.md", "report.png"]
        assert "](report.png)" in archive.read("report.md").decode()
        assert json.loads(archive.read("report.json"))["finding"] == report["finding"]


def test_a_comparison_supersedes_the_live_target_the_recorded_way(dashboard: str) -> None:
    target = start_target(dashboard, SLOW)
    burst = httpx.post(
        f"{dashboard}/api/targets/{target['id']}/bursts",
        json={"connections": 6, "pattern": "rate", "rate": 2},
        timeout=10,
    ).json()
    done = compare(dashboard, SLOW, {**SLOW, "backlog": 64}, {"connections": 1})
    assert [(s["target"], s["burst"]) for s in done["superseded"]] == [(target["id"], burst["id"])]
    cut = done["superseded"][0]
    assert cut["cancelled"] == f"superseded by comparison {done['id']}" and cut["run_id"] is not None
    assert run(dashboard, cut["run_id"])["cancelled"] == cut["cancelled"]
    assert httpx.get(f"{dashboard}/api/targets/{target['id']}", timeout=10).json()["state"] in ("stopped", "exited")


def test_the_finding_names_a_users_app_not_handler_settings_that_do_not_apply(
    dashboard: str, limited: dict[str, Any]
) -> None:
    from app.comparison import finding
    from app.result import RunResult

    a = RunResult.model_validate(run(dashboard, limited["run_a"]))
    b = RunResult.model_validate(run(dashboard, limited["run_b"]))
    assert "and a 300 ms async handler," in finding(a, b)

    def serving(result: RunResult, app: str) -> RunResult:
        return result.model_copy(update={"settings": result.settings.model_copy(update={"app": app})})

    same = finding(serving(a, "shop.main:app"), serving(b, "shop.main:app"))
    assert "and the app shop.main:app," in same and "handler" not in same
    assert "handler" not in finding(serving(a, "shop.main:app"), serving(b, "other.main:app"))
