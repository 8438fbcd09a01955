"""`connscope sweep`: a grid of settings on real targets, repeats, the JSON, plots, the report."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.numbers import ms_text
from app.report.files import ReportFiles
from app.report.sweep import render
from app.store import RunStore
from app.sweep import FIGURES, Sweep, SweepValueError, number, plan
from tests.support import ROOT

pytestmark = [pytest.mark.target]

# A handler that holds its slot 800 ms, six arrivals 100 ms apart: all six are in before the
# first answer, so limit_concurrency 3 lets exactly two in (uvicorn counts the connection
# and its task) and turns four away with 503; no limit answers all six.
CELL = [
    "--handler-ms", "800", "--loop", "asyncio", "--connections", "6", "--pattern", "rate", "--rate", "10",
]  # fmt: skip
EXPECTED = {"3": (2, 4), "none": (6, 0)}


def connscope(*args: str, store: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--store", str(store)] if store is not None else []
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args, *extra], cwd=ROOT, capture_output=True, text=True, timeout=240
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("connscope: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--limit-concurrency", "10,x,50"], "--limit-concurrency x: Enter a whole number."),
        (["--backlog", "16,0"], "--backlog 0: Must be at least 1."),
        (["--loop", "asyncio,tokio"], "--loop tokio: Choose one of"),
        (["--connections", "5,many"], "--connections many: Enter a whole number."),
        (["--repeat", "0"], "--repeat 0: Must be at least 1."),
        # Once: one cell of the last value, and nothing said.
        (
            ["--limit-concurrency", "3", "--limit-concurrency", "4"],
            "to sweep both, give a list: --limit-concurrency 3,4",
        ),
        # Once: 3 and "not given".
        (["--limit-concurrency", "3,,"], "--limit-concurrency 3,,: an empty value in the list (write none"),
    ],
)
def test_a_bad_value_in_a_list_is_one_line_naming_flag_and_value(args: list[str], says: str, tmp_path: Path) -> None:
    line = one_line_error(connscope("sweep", *args, store=tmp_path / "runs.sqlite3"))
    assert says in line
    assert not (tmp_path / "runs.sqlite3").exists(), "nothing is started or stored for a refused sweep"


def test_the_same_bad_value_reads_as_the_run_command_says_it() -> None:
    swept = one_line_error(connscope("sweep", "--limit-concurrency", "10,-3"))
    run = one_line_error(connscope("run", "--limit-concurrency", "-3"))
    assert swept == run


def test_a_grid_over_the_cap_is_refused_in_one_line() -> None:
    line = one_line_error(
        connscope(
            "sweep", "--limit-concurrency", "1,2,3", "--backlog", "8,16", "--repeat", "2", "--max-sweep-runs", "8"
        )
    )
    assert "12 runs in one sweep (cells × repeats) is over the cap of 8; --max-sweep-runs raises it." in line


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path, Path]]:
    """A real two-cell sweep, three runs per cell, with its plots: (JSON, plot dir, store)."""
    tmp = tmp_path_factory.mktemp("sweep")
    store = tmp / "runs.sqlite3"
    done = connscope(
        "sweep", "--limit-concurrency", "3,none", *CELL, "--repeat", "3", "--json", "--plot", str(tmp / "plots"),
        store=store,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # stderr is not a terminal here: one line per run instead of a bar.
    assert len(re.findall(r"^run \d/6 ", done.stderr, re.M)) >= 6, done.stderr
    yield json.loads(done.stdout), tmp / "plots", store


def test_json_has_the_sweep_and_every_cell_with_its_runs(swept: tuple[dict[str, Any], Path, Path]) -> None:
    data, _, store = swept
    sweep = data["sweep"]
    assert sweep["axes"] == [{"kind": "target", "name": "limit_concurrency", "values": [3, None]}]
    assert (sweep["repeat"], sweep["runs_planned"], sweep["runs_done"], sweep["state"]) == (3, 6, 6, "done")
    assert [c["swept"] for c in data["cells"]] == [{"limit_concurrency": 3}, {"limit_concurrency": None}]
    for cell in data["cells"]:
        assert cell["settings"]["handler_ms"] == 800 and cell["burst"]["connections"] == 6
        assert len(cell["runs"]) == 3, "--repeat 3: three samples per cell"
        for run in cell["runs"]:
            # The same result fields as `connscope run --json`.
            assert {"settings", "burst", "totals", "peaks", "latency_ms", "connect_ms", "connections"} <= run.keys()
            assert run["settings"]["limit_concurrency"] == cell["swept"]["limit_concurrency"]
        oks = [r["totals"]["ok"] for r in cell["runs"]]
        assert cell["summary"]["ok"] == {"median": sorted(oks)[1], "min": min(oks), "max": max(oks)}
        assert set(cell["summary"]) >= {"ok", "rejected_rate", "p50_ms", "p99_ms", "p99_9_ms", "ok_per_s"}
    first, second = data["cells"]
    assert first["within_noise"] is None
    # 3 vs none: the 503 counts never overlap; p99 (the 800 ms handler either way) does.
    assert second["within_noise"]["rejected_rate"] is False
    # The finding names them after a lead-in, never a capitalised setting ("Limit_concurrency").
    from app.report.sweep import finding

    noisy = " and ".join(n for k, n in (("p99_ms", "p99"), ("ok_per_s", "ok throughput")) if second["within_noise"][k])
    said = finding(data)
    assert "Limit_" not in said
    if noisy:
        lead = "Within the noise (their ranges over 3 runs overlap): "
        assert f"{lead}limit_concurrency 3 and limit_concurrency none in {noisy}." in said
    else:
        assert "every neighbouring difference in 503 rate, p99 and throughput is larger than the noise" in said
    # Every run and the sweep were recorded.
    recorded = RunStore(store)
    stored = recorded.get_sweep(sweep["id"])
    assert stored is not None and stored["sweep"]["state"] == "done"
    run_ids = [r for c in stored["cells"] for r in c["run_ids"]]
    assert len(run_ids) == 6 and all(recorded.get(r) is not None for r in run_ids)
    assert [r["run_id"] for c in data["cells"] for r in c["runs"]] == run_ids


def test_cells_equal_single_runs_with_those_settings(swept: tuple[dict[str, Any], Path, Path]) -> None:
    data, _, _ = swept
    for cell in data["cells"]:
        key = "none" if cell["swept"]["limit_concurrency"] is None else str(cell["swept"]["limit_concurrency"])
        summary = cell["summary"]
        assert (summary["ok"]["median"], summary["rejected"]["median"]) == EXPECTED[key]
        flag = [] if key == "none" else ["--limit-concurrency", key]
        done = connscope("run", *flag, *CELL, "--json")
        assert done.returncode == 0, done.stderr
        totals = json.loads(done.stdout)["totals"]
        for figure in ("ok", "rejected"):
            assert summary[figure]["min"] <= totals[figure] <= summary[figure]["max"], (key, figure, totals)


def test_plot_files_are_written(swept: tuple[dict[str, Any], Path, Path]) -> None:
    _, plots, _ = swept
    png = (plots / "sweep.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    html = (plots / "sweep.html").read_text()
    assert "uPlot" in html and "<script src" not in html, "self-contained: nothing fetched"
    assert json.loads((plots / "sweep.json").read_text())["sweep"]["runs_done"] == 6


def test_report_finding_quotes_numbers_in_its_json(swept: tuple[dict[str, Any], Path, Path], tmp_path: Path) -> None:
    data, _, _ = swept
    path = render(data, ReportFiles(tmp_path / "sweep.md"))
    text = path.read_text()
    backing = json.loads((tmp_path / "sweep.json").read_text())
    finding = backing["finding"]
    assert finding in text and (tmp_path / "sweep.png").is_file() and "](sweep.png)" in text
    assert "limit_concurrency 3 turns away 66.7% with 503" in finding
    assert "limit_concurrency none turns away none with 503" in finding
    first = backing["cells"][0]["summary"]
    assert first["rejected_rate"]["median"] == pytest.approx(0.6667)
    assert f"p99 is {ms_text(first['p99_ms']['median'])} ms" in finding
    assert "| limit_concurrency | ok | 503 rate |" in text


@pytest.mark.browser
def test_sweep_html_opens_offline_in_chromium_without_errors(
    swept: tuple[dict[str, Any], Path, Path], page: Any
) -> None:
    data, plots, _ = swept
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((plots / "sweep.html").as_uri())
    page.wait_for_selector(".sweep-plot__chart canvas", timeout=10_000)
    assert page.locator(".sweep-plot__chart").count() == 3
    # The cursor on the first cell (limit 3): each legend says its point as the table does.
    first = data["cells"][0]["summary"]
    p99 = f"{number('p99_ms', first['p99_ms']['median'])} ms"
    for figure, said in (("rejected_rate", "66.7%"), ("p99_ms", p99)):
        chart = page.locator(f".sweep-plot__chart[data-figure={figure}]")
        box = chart.locator(".u-over").bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + 3, box["y"] + box["height"] / 2)
        assert chart.locator(".u-legend .u-series").nth(1).locator(".u-value").inner_text() == said
    assert errors == []
    assert [u for u in requests if not u.startswith("file:")] == []


def test_on_a_terminal_a_progress_bar_counts_runs_with_elapsed_and_eta(tmp_path: Path) -> None:
    """stderr a terminal (a pty): the bar redraws in place with run i/N, elapsed and ETA."""
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "app.cli", "sweep", "--backlog", "16,32", "--handler-ms", "300", "--connections", "3",
         "--no-record", "--report", str(tmp_path / "report")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=follower, text=True,
    ) as proc:  # fmt: skip
        os.close(follower)
        out, _ = proc.communicate(timeout=120)
    seen = b""
    with contextlib.suppress(OSError):
        while chunk := os.read(leader, 65536):
            seen += chunk
    os.close(leader)
    assert proc.returncode == 0
    text = seen.decode()
    assert "\r\x1b[K[" in text and "run 1/2" in text and "run 2/2" in text
    assert re.search(r"\d:\d\d elapsed · ETA (\d:\d\d|–)", text)
    header = "backlog ok 503 rate refused/reset/timeout p50 ms p99 ms p99.9 ms ok/s peak queue peak active"
    assert out.splitlines()[0].split() == header.split()
    assert [line.split()[:2] for line in out.splitlines()[1:3]] == [["16", "3"], ["32", "3"]]
    report = (tmp_path / "report" / "report.md").read_text()
    assert "backlog 16 turns away none with 503" in report and (tmp_path / "report" / "report.png").is_file()


def test_the_live_page_never_imports_matplotlib() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys, app.web.app, app.cli; sys.exit('matplotlib' in sys.modules)"],
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0


def test_the_first_axis_varies_fastest_and_noise_needs_two_samples_a_side() -> None:
    grid = plan({"limit_concurrency": ["10", "none"], "backlog": ["16", "128"]}, {"connections": ["5"]}, repeat=2)
    assert [c.swept for c in grid.cells] == [
        {"limit_concurrency": 10, "backlog": 16},
        {"limit_concurrency": None, "backlog": 16},
        {"limit_concurrency": 10, "backlog": 128},
        {"limit_concurrency": None, "backlog": 128},
    ]
    assert grid.runs == 8 and grid.burst.connections == 5
    sweep = Sweep(grid)
    ok = {key: 0.0 for key in FIGURES}
    for state, oks in zip(sweep.cells, ([4, 6], [5, 9], [1], [1]), strict=True):
        state.figures = [ok | {"ok": n} for n in oks]
    cells = sweep.record()["cells"]
    assert cells[0]["within_noise"] is None, "the first on its line has no neighbour before it"
    assert cells[1]["within_noise"]["ok"] is True, "4–6 and 5–9 overlap"
    assert cells[2]["within_noise"] is None, "a new line (backlog 128) starts"
    assert cells[3]["within_noise"] is None, "one sample a side: no spread to judge by"
    # A count's median over two runs is the lower run's: a count a run had, not 7.
    assert cells[1]["summary"]["ok"] == {"median": 5, "min": 5, "max": 9}


def test_every_cell_gets_the_identical_arrival_schedule() -> None:
    """Only the swept settings differ between cells: a Poisson burst's seed is fixed once."""
    grid = plan({"limit_concurrency": ["1", "none"]}, {"pattern": ["poisson"], "connections": ["20"]}, repeat=1)
    seeds = {cell.burst.seed for cell in grid.cells}
    assert len(seeds) == 1 and None not in seeds
    assert grid.cells[0].burst.offsets_ns() == grid.cells[1].burst.offsets_ns()
    given = plan({"limit_concurrency": ["1", "none"]}, {"pattern": ["poisson"], "seed": ["7"]}, repeat=1)
    assert {cell.burst.seed for cell in given.cells} == {7}
    swept = plan({}, {"pattern": ["poisson"], "seed": ["1", "2"]}, repeat=1)
    assert [cell.burst.seed for cell in swept.cells] == [1, 2]


def test_a_list_for_a_setting_the_burst_does_not_use_is_refused_not_dropped() -> None:
    with pytest.raises(SweepValueError) as refused:
        plan({}, {"pattern": ["burst"], "rate": ["10", "50"]}, repeat=1)
    assert refused.value.name == "rate" and "not used" in str(refused.value)
    assert len(plan({}, {"pattern": ["rate"], "rate": ["10", "50"]}, repeat=1).cells) == 2


def test_a_plot_folder_that_cannot_be_made_is_refused_before_the_sweep_runs(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite3"
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    line = one_line_error(
        connscope("sweep", "--limit-concurrency", "1,2", "--plot", str(blocker / "plots"), store=store)
    )
    assert line.startswith(f"connscope: error: --plot {blocker / 'plots'}: ")
    assert RunStore(store).list() == [], "nothing ran"


def test_a_sweep_with_no_list_says_it_is_one_cell(tmp_path: Path) -> None:
    done = connscope("sweep", "--connections", "2", "--handler-ms", "0", store=tmp_path / "runs.sqlite3")
    assert done.returncode == 0, done.stderr
    assert "connscope: note: no setting has two or more values, so this sweep is one cell (1 run)" in done.stderr


def test_a_server_list_meeting_another_engines_setting_says_why_and_points_to_compare() -> None:
    line = one_line_error(connscope("sweep", "--server", "uvicorn,granian", "--backpressure", "2,none"))
    assert "backpressure is Granian's" in line
    assert "every combination of its lists" in line and "Compare" in line


def test_a_counts_median_over_an_even_number_of_runs_is_a_count_a_run_had() -> None:
    """Two runs' peak queues of 0 and 1 read "0.5 [0–1]" in the table: half a connection."""
    from app.sweep import COUNTS, spread

    assert {"ok", "rejected", "peak_queue", "peak_active"} <= COUNTS and "p99_ms" not in COUNTS
    assert spread([1, 0], count=True) == {"median": 0, "min": 0, "max": 1}
    assert spread([3, 9, 4, 8], count=True)["median"] == 4
    # A time or a rate keeps the mean of the middle two.
    assert spread([10.0, 12.0])["median"] == 11.0
