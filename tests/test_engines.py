"""Server engines side by side with uvicorn: gunicorn (uvicorn-worker), Granian, Hypercorn,
each on real sandboxed processes fed the same kind of burst.

What differs from uvicorn is asserted where it differs, as measured on a loaded 2-core
machine (five repetitions before each assertion was written; see README, "Engines: what
differs, measured").
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from app.cli.parser import TARGET_FLAGS
from app.cli.run import scenario_target_flags
from app.experiment import run_once
from app.fields import field_errors
from app.sandbox.engines import ENGINES
from app.sandbox.settings import EXPLICIT, TargetSettings
from app.scenarios import BY_ID
from app.store import RunStore
from app.web.app import create_app
from tests.conftest import outcomes, run_async, run_burst, state_names, time_in
from tests.support import wait_burst

ROOT = Path(__file__).resolve().parents[1]


def _refusal(**settings: object) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        TargetSettings.model_validate(settings)
    return field_errors(caught.value)


def test_each_engine_refuses_another_engines_setting_by_name_and_says_what_it_has_instead() -> None:
    assert _refusal(server="granian", limit_concurrency=3) == {
        "limit_concurrency": "limit_concurrency is uvicorn's; Granian has backpressure instead "
        "(excess requests wait, none get 503)."
    }
    assert _refusal(server="uvicorn", backpressure=3)["backpressure"].startswith(
        "backpressure is Granian's; uvicorn has limit_concurrency instead"
    )
    assert _refusal(server="hypercorn", limit_concurrency=2)["limit_concurrency"].endswith(
        "Hypercorn has no 503 gate: it never rejects a request for load."
    )
    assert (
        "gunicorn has max_requests instead" in _refusal(server="gunicorn", limit_max_requests=2)["limit_max_requests"]
    )
    # Granian's own floor, which its CLI enforces; uvicorn takes any backlog.
    assert _refusal(server="granian", backlog=64) == {
        "backlog": "Granian refuses a backlog below 128; give at least 128."
    }
    TargetSettings(server="uvicorn", backlog=64)
    # A setting two engines share (uvicorn's gate runs inside gunicorn's workers) is taken by both.
    TargetSettings(server="gunicorn", limit_concurrency=2, max_requests=5, gunicorn_timeout=10)


def test_each_engines_settings_table_names_real_fields_once_and_says_instead_only_of_others() -> None:
    read = {name for engine in ENGINES.values() for name in engine.settings_fields}
    assert read <= set(TargetSettings.model_fields)
    for engine in ENGINES.values():
        names = [s.name for s in engine.settings]
        assert len(names) == len(set(names)), engine.name
        # An `instead` row is said only when another engine's field is given a value.
        for name in engine.instead:
            assert name in read and name not in engine.settings_fields, (engine.name, name)


def test_the_cli_refuses_a_foreign_setting_in_one_line_before_starting_anything() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "run", "--server", "granian", "--limit-concurrency", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "connscope: error: --limit-concurrency 3: limit_concurrency is uvicorn's; Granian has backpressure "
        "instead (excess requests wait, none get 503).\n"
    )
    assert done.stdout == ""


def test_a_foreign_flag_typed_at_its_default_is_refused_too_but_a_default_left_alone_is_not() -> None:
    # Typed by name, uvicorn's keep-alive means nothing to Granian, even at uvicorn's default of 5.
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "run", "--server", "granian", "--timeout-keep-alive", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "connscope: error: --timeout-keep-alive 5: timeout_keep_alive is uvicorn's; "
        "Granian has http1_keep_alive (on/off) instead.\n"
    )
    # A form, a stored run or a scenario gives every field: another engine's at its default stays silent.
    every = TargetSettings(server="granian").model_dump()
    assert TargetSettings.model_validate(every).timeout_keep_alive == 5
    with pytest.raises(ValidationError):
        TargetSettings.model_validate(every, context={EXPLICIT: {"server", "timeout_keep_alive"}})
    TargetSettings.model_validate(every, context={EXPLICIT: {"server", "backlog", "http1_keep_alive"}})


def test_the_form_shows_the_refusal_next_to_the_field_as_a_422(tmp_path: Path) -> None:
    async def post() -> httpx.Response:
        app = create_app(store=RunStore(tmp_path / "runs.sqlite3"))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
                return await client.post("/targets", data={"server": "granian", "limit_concurrency": "3"})

    response = asyncio.run(post())
    assert response.status_code == 422
    assert 'id="target-limit_concurrency-error"' in response.text
    assert "Granian has backpressure instead" in response.text
    # Every engine setting's hint names the engines that take it.
    assert "[gunicorn, Hypercorn]" in response.text
    assert '<option value="granian" selected>' in response.text


def test_another_engines_field_left_empty_takes_its_default_and_one_typed_is_refused(tmp_path: Path) -> None:
    """Without the script every field is sent: an empty one of another engine is not given."""

    async def post(data: dict[str, str]) -> httpx.Response:
        app = create_app(store=RunStore(tmp_path / "runs.sqlite3"))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
                return await client.post("/targets", data=data)

    # Granian's own check answers (backlog), not "Required" for uvicorn's empty keep-alive.
    emptied = {"server": "granian", "backlog": "5", "timeout_keep_alive": "", "limit_concurrency": ""}
    response = asyncio.run(post(emptied))
    assert response.status_code == 422
    assert 'id="target-backlog-error"' in response.text
    assert "Granian refuses a backlog below 128" in response.text
    assert "Required" not in response.text
    # Every field shows and is sent without the script; the engines that read one are named.
    assert 'data-engines="uvicorn gunicorn"' in response.text
    assert 'data-engines="granian"' in response.text
    assert " hidden" not in response.text.split('id="target-form"')[1].split("</form>")[0]

    typed = {"server": "granian", "timeout_keep_alive": "7"}
    response = asyncio.run(post(typed))
    assert response.status_code == 422
    assert 'id="target-timeout_keep_alive-error"' in response.text
    assert "timeout_keep_alive is uvicorn&#39;s; Granian has http1_keep_alive (on/off) instead." in response.text

    # A share link that carries another engine's setting empty restores without an error.
    async def shared(query: str) -> httpx.Response:
        app = create_app(store=RunStore(tmp_path / "runs.sqlite3"))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
                return await client.get("/" + query)

    page = asyncio.run(shared("?t.server=granian&t.backpressure=2&t.timeout_keep_alive="))
    assert page.status_code == 200 and 'data-errors="0"' in page.text


def test_every_engine_reports_its_version_and_its_witnesses() -> None:
    versions = {name: engine.version() for name, engine in ENGINES.items()}
    assert versions["gunicorn"].startswith("gunicorn 27.") and "uvicorn-worker 0.4." in versions["gunicorn"]
    assert versions["granian"].startswith("granian 2.8.")
    assert versions["hypercorn"].startswith("hypercorn 0.18.")
    assert "not installed" not in " ".join(versions.values())
    assert "no accept/close hooks in Granian" in ENGINES["granian"].witnesses


def test_the_witnesses_line_says_what_sees_this_target() -> None:
    uvicorn = ENGINES["uvicorn"]
    defaults = TargetSettings().model_dump()
    assert "accept() (asyncio loop)" in uvicorn.witnessed(defaults | {"loop": "asyncio"})
    assert "in every worker" in uvicorn.witnessed(defaults | {"loop": "asyncio", "workers": 2})
    uvloop = uvicorn.witnessed(defaults | {"loop": "uvloop", "workers": 2})
    assert "no accept()" in uvloop and "uvloop accepts in C" in uvloop
    assert uvicorn.witnessed(defaults | {"instrument": False}).startswith("kernel only")
    assert ENGINES["granian"].witnessed(defaults | {"server": "granian"}) == ENGINES["granian"].witnesses


@pytest.mark.target
def test_gunicorn_with_uvicorn_worker_answers_1811_like_uvicorn() -> None:
    """limit_concurrency reaches uvicorn inside gunicorn's worker (CONFIG_KWARGS): limit 2
    serves one request at a time, the rest get 503 at once, as with uvicorn alone."""
    result = run_burst(
        {"server": "gunicorn", "limit_concurrency": 2, "workers": 1, "handler_ms": 1500, "loop": "asyncio"},
        {"connections": 6, "pattern": "rate", "rate": 10},
    )
    assert outcomes(result) == ["ok"] + ["rejected"] * 5
    for connection in result["connections"][1:]:
        assert connection["requests"][0]["status"] == 503
        assert connection["requests"][0]["latency_ms"] < 300, "a 503 comes at once, not after a slot frees"
        assert "active" not in state_names(connection)
    assert result["peaks"]["active"] == 1
    # The instrumented uvicorn protocol runs inside gunicorn's worker: accepted is witnessed.
    assert "accepted" in state_names(result["connections"][0])
    target = result["target"]
    assert target["server"] == "gunicorn" and target["server_version"].startswith("gunicorn 27.")
    assert "uvicorn's protocol in each worker" in target["witnesses"]


@pytest.mark.target
def test_granian_backpressure_makes_requests_wait_in_the_kernel_queue_not_503() -> None:
    """Differs from uvicorn: no 503 gate. With backpressure 2, 6 simultaneous 1 s requests
    all succeed, two at a time, in three waves; Granian stops accepting while its slots
    are full, so the others wait in the kernel's accept queue."""
    result = run_burst(
        {"server": "granian", "backpressure": 2, "handler_ms": 1000},
        {"connections": 6, "pattern": "burst"},
    )
    assert outcomes(result) == ["ok"] * 6
    assert result["totals"]["rejected"] == 0
    waves = sorted(round(c["requests"][0]["latency_ms"] / 1000) for c in result["connections"])
    assert waves == [1, 1, 2, 2, 3, 3]
    assert result["peaks"]["active"] == 2
    # The four that wait, in the kernel's accept queue (sampled: a moment before Granian took
    # its first two, the queue may have held five or six).
    assert 4 <= result["peaks"]["accept_queue"] <= 6, "the kernel saw the four waiting in the accept queue"
    waited = sorted(time_in(c, "queued") for c in result["connections"])
    assert waited[:2] == pytest.approx([0, 0], abs=100)
    assert all(900 < ms < 2500 for ms in waited[2:])
    assert result["target"]["server_version"].startswith("granian 2.8.")


@pytest.mark.target
def test_hypercorn_serves_a_burst_with_no_gate() -> None:
    result = run_burst({"server": "hypercorn", "handler_ms": 500}, {"connections": 20, "pattern": "burst"})
    assert outcomes(result) == ["ok"] * 20
    assert result["peaks"]["active"] == 20, "no limit: every request runs at once"
    assert all(c["requests"][0]["latency_ms"] < 1500 for c in result["connections"])
    assert result["target"]["witnesses"].startswith("kernel, app (active)")


@pytest.mark.target
@pytest.mark.parametrize(("server", "handler_ms", "rate"), [("gunicorn", 700, 2), ("hypercorn", 500, 5)])
def test_a_max_requests_restart_keeps_the_socket_open_and_later_connections_wait_in_the_backlog(
    server: str, handler_ms: int, rate: int
) -> None:
    """Differs from uvicorn's limit_max_requests, after which the server exits and later
    connections are refused: gunicorn and Hypercorn replace the worker and the socket stays
    open, so connections arriving meanwhile wait in the kernel's queue and are served late.
    With max_requests=2 the old worker takes 3 in both. Hypercorn stops accepting at the 3rd
    request's arrival. Under gunicorn uvicorn counts a request when its response completes and
    checks the count every 0.1 s: the 2nd completes at 1200 ms and the old worker stops
    accepting within (1200, 1300], 200 ms from the 3rd arrival (1000) and the 4th (1500) at
    2 a second. The rest waited ~270-490 ms (gunicorn forks the new worker) or ~220-650 ms
    (Hypercorn spawns it)."""
    old_worker_took = 3
    result = run_burst(
        {"server": server, "max_requests": 2, "workers": 1, "handler_ms": handler_ms, "loop": "asyncio"},
        {"connections": 6, "pattern": "rate", "rate": rate, "client_timeout_s": 20},
    )
    assert outcomes(result) == ["ok"] * 6
    assert result["totals"]["refused"] == result["totals"]["reset"] == 0
    waited = [time_in(c, "queued") for c in result["connections"]]
    assert all(ms < 100 for ms in waited[:old_worker_took]), waited
    # The first to arrive after the old worker's last waits the whole replacement; later
    # arrivals wait what is left of it, nothing once the new worker is up first (Hypercorn
    # has spawned one in 220 ms: a CI run's last connection waited 116 ms).
    assert waited[old_worker_took] > 150, waited
    assert result["peaks"]["accept_queue"] >= 1, "the kernel saw them waiting in the accept queue"
    assert result["target"]["state"] == "ready"


@pytest.mark.target
def test_uvicorn_vs_granian_scenario_fires_the_same_burst_at_both_and_compares() -> None:
    scenario = BY_ID["uvicorn-vs-granian"]
    assert scenario.versus is not None and scenario.compare is not None
    uvicorn = run_async(lambda: run_once(scenario.settings, scenario.burst))
    versus = scenario.versus
    granian = run_async(lambda: run_once(versus, scenario.burst))
    assert [c.requests[0].outcome.value for c in uvicorn.connections] == ["ok"] * 2 + ["rejected"] * 6
    assert [c.requests[0].outcome.value for c in granian.connections] == ["ok"] * 8
    assert granian.peaks.active == 3
    finding = scenario.compare(uvicorn, granian)
    assert finding.startswith(
        "The same 8 requests: uvicorn (limit_concurrency=3) served 2 and answered 503 to 6 of 8, each within "
    )
    assert "Granian (backpressure=3) rejected 0 and served 8, at most 3 at once: 5 waited in the kernel's" in finding


def test_the_cli_gives_each_target_of_a_two_target_scenario_only_the_flags_its_engine_takes() -> None:
    scenario = BY_ID["uvicorn-vs-granian"]
    assert scenario.versus is not None
    uvicorn, granian = scenario_target_flags(scenario.settings), scenario_target_flags(scenario.versus)
    assert "--limit-concurrency" in uvicorn and "--limit-concurrency" not in granian
    assert "--backpressure" in granian and "--backpressure" not in uvicorn
    assert "--server" not in uvicorn and "--handler-ms" in granian
    assert set(uvicorn) | set(granian) | {"--server"} <= set(TARGET_FLAGS)


@pytest.mark.target
def test_the_dashboard_runs_the_second_target_after_the_first_and_shows_the_comparison(dashboard: str) -> None:
    response = httpx.post(f"{dashboard}/scenarios/uvicorn-vs-granian", timeout=60)
    assert response.status_code == 200, response.text
    first = httpx.get(f"{dashboard}/api/targets", timeout=10).json()[-1]
    assert first["settings"]["server"] == "uvicorn"
    wait_burst(dashboard, first["id"], 1)
    deadline = time.monotonic() + 60
    # The second target is listed from the moment it starts; its burst is fired once it is ready.
    while True:
        second = httpx.get(f"{dashboard}/api/targets", timeout=10).json()[-1]
        if second["id"] != first["id"] and second["bursts"] and second["bursts"][0]["done"]:
            break
        assert time.monotonic() < deadline, "the second target's burst never finished"
        time.sleep(0.2)
    assert second["settings"]["server"] == "granian" and second["settings"]["backpressure"] == 3
    assert second["server_version"].startswith("granian 2.8.")
    assert "no accept/close hooks in Granian" in second["witnesses"]
    finding = second["bursts"][0]["finding"]
    assert finding.startswith("The same 8 requests: uvicorn (limit_concurrency=3) served 2 and answered 503 to 6")
    panel = httpx.get(f"{dashboard}/partials/target", timeout=10).text
    assert "granian 2.8." in panel and "witnesses: kernel, app (active)" in panel
    # The recorded run says which server ran, with its own gate: not "uvicorn, limit none".
    run_id = second["bursts"][0]["run_id"]
    replay = httpx.get(f"{dashboard}/runs/{run_id}", timeout=30).text
    header = replay.split("data-what>")[1].split("</p>")[0]
    assert "Granian: backlog=2048, backpressure=3" in header and "limit_concurrency" not in header, header
    listed = next(r for r in httpx.get(f"{dashboard}/api/runs", timeout=10).json() if r["id"] == run_id)
    assert "→ Granian, backpressure 3," in listed["summary"], listed
