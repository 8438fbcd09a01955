"""The user's own app (tests/fixtures/userapp/shopapp) served by real sandboxed targets,
from `connscope run --app … --app-dir …` and from a dashboard that lists it. The package is
copied to a pytest temp directory, which uid 65534 cannot enter by itself: the sandbox
must reveal --app-dir to the target."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.sandbox.apps import user_app
from app.sandbox.settings import TargetSettings
from tests.conftest import state_names
from tests.support import ROOT, enter_and_answer_delays, serve_dashboard, start_target, wait_burst

pytestmark = [pytest.mark.target]

FIXTURE = ROOT / "tests" / "fixtures" / "userapp" / "shopapp"
APP = "shopapp.main:app"


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE, tmp_path / "shopapp")
    return tmp_path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "run", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def _served_as_instrumented(result: dict[str, Any], status: int) -> None:
    assert result["totals"]["ok"] == result["totals"]["connections"]
    for connection in result["connections"]:
        request = connection["requests"][0]
        assert request["status"] == status
        # The server witness inside the user's app: each request held a slot, seen entering it.
        assert "active" in state_names(connection)
        # The fixture holds /slow 300 ms and / 50 ms: the request reached the user's route.
        assert (request["latency_ms"] >= 300) == (request["path"] == "/slow")
    assert result["peaks"]["active"] >= 1


def test_run_serves_the_users_app_instrumented(app_dir: Path) -> None:
    done = _cli(
        "--app", APP, "--app-dir", str(app_dir), "--connections", "4", "--pattern", "rate", "--rate", "10",
        "--paths", "/:50,/slow:50", "--method", "POST", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["settings"]["app"] == APP
    _served_as_instrumented(result, 201)
    assert sorted(c["requests"][0]["path"] for c in result["connections"]) == ["/", "/", "/slow", "/slow"]


def test_run_with_an_app_that_cannot_be_imported_says_why_in_one_line(app_dir: Path) -> None:
    done = _cli("--app", "shopapp.main:nope", "--app-dir", str(app_dir), "--connections", "1")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"connscope: error: target failed to start: the app shopapp.main:nope (from {app_dir}) cannot be loaded: "
        'ImportFromStringError: Attribute "nope" not found in module "shopapp.main".'
    ]
    done = _cli("--app", "shopapp.main:app", "--connections", "1")
    assert done.returncode == 1
    assert "the app shopapp.main:app (no --app-dir: from installed packages only) cannot be loaded" in done.stderr
    done = _cli("--app", "not an import string")
    assert done.returncode == 2
    assert done.stderr == "connscope: error: --app not an import string: write module:attribute, e.g. mypkg.main:app\n"


def test_a_sweep_serves_the_users_app_in_every_cell_and_refuses_one_that_cannot_load(app_dir: Path) -> None:
    """The sweep's cells once ran the workload under the app's name: p99 of its 100 ms
    handler, for an app whose module did not even exist."""

    def sweep(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "app.cli", "sweep", "--no-record", *args]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)

    done = sweep(
        "--app", APP, "--app-dir", str(app_dir), "--limit-concurrency", "2,none", "--connections", "2",
        "--pattern", "rate", "--rate", "10", "--path", "/slow", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    runs = [run for cell in json.loads(done.stdout)["cells"] for run in cell["runs"]]
    assert len(runs) == 2
    for run in runs:
        assert run["settings"]["app"] == APP
        # The fixture's /slow holds 300 ms; the workload's default handler holds 100 ms.
        answered = [c["requests"][0] for c in run["connections"]]
        assert all(r["latency_ms"] >= 300 for r in answered if r["outcome"] == "ok")
    # uvicorn counts the connection itself against the limit: limit 2 is one slot, and the
    # second arrival (100 ms into the first's 300 ms) is turned away.
    assert [run["totals"]["ok"] for run in runs] == [1, 2]
    done = sweep("--app", "nosuch:thing", "--limit-concurrency", "3,none", "--connections", "2")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines()[-1].startswith("connscope: error: target failed to start: the app nosuch:thing")
    done = sweep("--app-dir", str(app_dir), "--limit-concurrency", "3,none")
    assert (done.returncode, done.stderr) == (2, f"connscope: error: --app-dir {app_dir}: no --app to import from it\n")


def test_the_dashboard_serves_only_apps_listed_at_start(app_dir: Path) -> None:
    with serve_dashboard("--app", APP, "--app", "missing.module:app", "--app-dir", str(app_dir)) as url:
        page = httpx.get(url + "/", timeout=10).text
        assert f'<option value="{APP}"' in page and '<option value="missing.module:app"' in page
        # Anything else is refused before anything starts, with a message, not imported.
        refused = httpx.post(f"{url}/api/targets", json={"app": "os:system"}, timeout=30)
        assert refused.status_code == 422
        (detail,) = refused.json()["detail"]
        assert detail["loc"] == ["body", "app"]
        assert "'os:system' is not an app this dashboard was started with" in detail["msg"]
        # The form too: the error is shown at the app field, and nothing started.
        form = httpx.post(f"{url}/targets", data={"app": "os:system"}, timeout=30)
        assert form.status_code == 422
        assert "is not an app this dashboard was started with" in form.text
        assert httpx.get(f"{url}/api/targets", timeout=10).json() == []
        # A listed app that cannot be imported: 409 with the one-line reason.
        failed = httpx.post(f"{url}/api/targets", json={"app": "missing.module:app"}, timeout=60)
        assert failed.status_code == 409
        assert "the app missing.module:app" in failed.json()["detail"]
        assert "ModuleNotFoundError: No module named 'missing'" in failed.json()["detail"]
        # Its panel says how it ended, with no empty fact between separators (it never got a sandbox line).
        panel = httpx.get(f"{url}/partials/target", timeout=10).text
        facts = " ".join(panel.split('class="target-facts">', 1)[1].split("</p>", 1)[0].split())
        assert "exit status" in facts and "· ·" not in facts, facts
        target = start_target(url, {"app": APP})
        burst = httpx.post(
            f"{url}/api/targets/{target['id']}/bursts",
            json={"connections": 4, "pattern": "rate", "rate": 10, "paths": "/:50,/slow:50"},
            timeout=10,
        ).json()
        result = wait_burst(url, target["id"], burst["id"])
        _served_as_instrumented(result, 200)
        # A sweep from its page serves a listed app too (it was refused), and only a listed one.
        form = {"app": APP, "connections": "2", "pattern": "rate", "rate": "10", "path": "/slow", "repeat": "1"}
        refused = httpx.post(f"{url}/sweeps", data=form | {"app": "os:system"}, timeout=30)
        assert refused.status_code == 422 and "is not an app this dashboard was started with" in refused.text
        started = httpx.post(f"{url}/sweeps", data=form, timeout=30)
        assert started.status_code == 303, started.text
        sweep_id = int(started.headers["location"].rsplit("/", 1)[1])
        deadline = time.monotonic() + 60
        while (swept := httpx.get(f"{url}/api/sweeps/{sweep_id}", timeout=10).json())["progress"]["live"]:
            assert time.monotonic() < deadline, swept["progress"]
            time.sleep(0.3)
        (cell,) = swept["cells"]
        assert cell["settings"]["app"] == APP and cell["summary"]["ok"]["median"] == 2
        # The fixture's /slow holds 300 ms; the workload would have answered in 100.
        assert cell["summary"]["p50_ms"]["median"] >= 300


@pytest.mark.parametrize(("loop", "workers"), [("asyncio", 1), ("uvloop", 2)])
def test_a_users_handler_that_blocks_the_loop_is_still_seen_entering(app_dir: Path, loop: str, workers: int) -> None:
    """A user's app does not say when it blocks its loop (the fixture's /block sleeps 1 s
    on it): the witness's watchdog sends the request's `enter` for the stuck loop, in
    uvicorn's spawned workers too."""
    settings = TargetSettings(app=APP, loop=loop, workers=workers)  # type: ignore[arg-type]
    entered, answered = enter_and_answer_delays(settings, "/block", user_app(APP, str(app_dir)))
    assert answered >= 1.0
    assert entered < 0.3, f"enter reached the control app {entered:.3f} s after the request, answered {answered:.3f}"


def test_compare_tries_the_b_sides_app_before_running_a_burst(app_dir: Path) -> None:
    """The control app never imports user code: an app of B's that cannot be loaded is found
    by starting it, before A's burst is fired only to be left without its other half."""
    done = subprocess.run(
        [
            sys.executable, "-m", "app.cli", "compare", "--app", APP, "--app-dir", str(app_dir),
            "-b", "app=shopapp.main:nope", "--connections", "2",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == "", "no burst ran"
    assert "A: starting" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"connscope: error: B: target failed to start: the app shopapp.main:nope (from {app_dir}) cannot be loaded: "
        'ImportFromStringError: Attribute "nope" not found in module "shopapp.main".'
    )


def test_the_apps_own_503_is_its_error_not_a_rejection(app_dir: Path) -> None:
    """uvicorn's admission-control 503 never reaches the app; a 503 the app answers itself
    is marked as the app's, so it counts as an error and never as turned away."""
    done = _cli(
        "--app", APP, "--app-dir", str(app_dir), "--connections", "4", "--pattern", "rate", "--rate", "20",
        "--paths", "/:50,/unavailable:50", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    outcomes = {c["requests"][0]["path"]: c["requests"][0] for c in result["connections"]}
    assert outcomes["/unavailable"]["status"] == 503 and outcomes["/unavailable"]["outcome"] == "error"
    assert outcomes["/"]["outcome"] == "ok"
    assert result["totals"]["rejected"] == 0 and result["totals"]["error"] == 2
