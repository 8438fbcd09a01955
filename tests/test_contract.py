"""The run contract: the result is one typed model, described by /openapi.json, that
round-trips through its JSON; and runs stored before it (version 1) still load and replay."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.export import to_csv
from app.result import SCHEMA_VERSION, RunResult
from app.store import RunStore
from app.web.app import create_app
from tests.conftest import run_burst, serve_dashboard

V1_SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at TEXT NOT NULL,
    scenario TEXT,
    summary TEXT NOT NULL,
    result TEXT NOT NULL
)
"""


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    """A real run with 503s and a queue: 2 served, 4 rejected, as `connscope run --json`."""
    return run_burst(
        {"limit_concurrency": 3, "handler": "async", "handler_ms": 400, "loop": "asyncio"},
        {"connections": 6, "pattern": "rate", "rate": 20},
    )


def test_a_result_round_trips_through_the_model(result: dict[str, Any]) -> None:
    assert result["schema_version"] == SCHEMA_VERSION
    assert [c["id"] for c in result["connections"]] == list(range(6)), "ids given in creation order"
    text = json.dumps(result)
    model = RunResult.model_validate_json(text)
    assert json.loads(model.model_dump_json()) == result
    assert model.model_dump(mode="json") == result
    # Absent, not null, where a request has no error or timeout state (the shape tests pin).
    served = next(r for c in result["connections"] for r in c["requests"] if r["outcome"] == "ok")
    assert "error" not in served and "timeout_state" not in served


def test_openapi_describes_the_run_and_every_api_response(tmp_path: Path) -> None:
    schema = create_app(store=RunStore(tmp_path / "runs.sqlite3")).openapi()
    components = schema["components"]["schemas"]
    run = components["RunResult"]
    assert set(run["properties"]) == set(RunResult.model_fields)
    for name in (
        "Connection",
        "Request",
        "Totals",
        "Peaks",
        "LatencyPercentiles",
        "TargetSettings",
        "BurstSpec",
        "TargetInfo",
    ):
        assert name in components, name
    assert set(components["Totals"]["properties"]) >= {"ok", "rejected", "cancelled", "requests", "connections"}
    assert "id" in components["Connection"]["required"]
    api = {path: ops for path, ops in schema["paths"].items() if path.startswith("/api/")}
    assert len(api) == 15
    for path, operations in api.items():
        for method, operation in operations.items():
            ok = next(code for code in operation["responses"] if code.startswith("2"))
            content = operation["responses"][ok].get("content", {})
            described = [c.get("schema") for c in content.values()]
            assert described and all(described), f"{method.upper()} {path} has no response schema"
    as_run = api["/api/runs/{run_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert as_run == {"$ref": "#/components/schemas/RunResult"}
    burst = api["/api/targets/{target_id}/bursts/{burst_id}"]["get"]["responses"]["200"]["content"]
    refs = json.dumps(burst)
    assert "BurstRun" in refs and "BurstProgress" in refs
    assert set(components["BurstRun"]["properties"]) >= set(RunResult.model_fields) | {"id", "done", "started_ms"}


def _as_version_1(result: dict[str, Any]) -> dict[str, Any]:
    """A result in the oldest stored shape: no schema version, connection ids, cancellations,
    witness error, SYN retransmissions or client times."""
    old = {
        k: v
        for k, v in result.items()
        if k not in ("schema_version", "run_id", "scenario", "finding", "cancelled", "kernel_witness_error")
    }
    old["totals"] = {k: v for k, v in result["totals"].items() if k != "cancelled"}
    old["connections"] = [
        {
            "port": c["port"],
            "burst": c["burst"],
            "states": c["states"],
            "requests": [{k: r[k] for k in ("outcome", "status", "latency_ms")} for r in c["requests"]],
        }
        for c in result["connections"]
    ]
    return old


def test_a_version_1_run_still_loads_lists_exports_and_replays(
    result: dict[str, Any], tmp_path: Path, page: Any
) -> None:
    path = tmp_path / "runs.sqlite3"
    old = _as_version_1(result)
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(V1_SCHEMA)
        # As the store wrote rows before the version column: json.dumps of the result dict.
        db.execute(
            "INSERT INTO runs (recorded_at, scenario, summary, result) VALUES (?, ?, ?, ?)",
            ("2025-01-01T00:00:00+00:00", None, "6 conns rate → limit 3", json.dumps(old)),
        )
    store = RunStore(path)
    loaded = store.get(1)
    assert loaded is not None
    assert (loaded.schema_version, loaded.run_id, loaded.totals.cancelled) == (1, 1, 0)
    assert [c.id for c in loaded.connections] == list(range(6)), "a v1 connection is named by its position"
    assert [c.states for c in loaded.connections] == [c.states for c in RunResult.model_validate(result).connections]
    assert [r.version for r in store.list()] == [1]
    rows = [line for line in to_csv(loaded).splitlines() if not line.startswith("#")][1:]
    assert len(rows) == 6 and sum(",rejected,503," in row for row in rows) == 4
    saved = store.save(RunResult.model_validate(result))
    assert [(r.id, r.version) for r in store.list()] == [(saved, SCHEMA_VERSION), (1, 1)]

    with serve_dashboard("--store", str(path)) as url:
        api = httpx.get(f"{url}/api/runs/1", timeout=10).json()
        assert api["schema_version"] == 1 and api["totals"]["rejected"] == 4
        page.goto(f"{url}/runs/1")
        page.wait_for_function("() => window.connscopeReplay !== undefined")
        end = max(t for c in old["connections"] for _, t in c["states"])
        page.evaluate("t => window.connscopeReplay.show(t)", end)
        lanes = page.evaluate("() => window.connscopeReplay.view.describe().lanes")
        assert (lanes["ok"]["count"], lanes["rejected"]["count"]) == (2, 4), "the old run replays to its end"


def test_the_api_docs_example_bodies_run_as_they_stand() -> None:
    """Swagger UI's "Try it out" sends an operation's first example unchanged: each one the
    docs offer is accepted, and starts what it says."""
    with serve_dashboard() as url:
        paths = httpx.get(f"{url}/openapi.json", timeout=10).json()["paths"]

        def examples(path: str) -> list[Any]:
            content = paths[path]["post"]["requestBody"]["content"]["application/json"]
            return [example["value"] for example in content["examples"].values()]

        for body in examples("/api/targets"):
            started = httpx.post(f"{url}/api/targets", json=body, timeout=60)
            assert started.status_code == 201, started.text
        target = started.json()["id"]
        for body in examples("/api/targets/{target_id}/bursts"):
            fired = httpx.post(f"{url}/api/targets/{target}/bursts", json=body, timeout=30)
            assert fired.status_code == 202, fired.text
        for body in examples("/api/comparisons"):
            compared = httpx.post(f"{url}/api/comparisons", json=body, timeout=120)
            assert compared.status_code == 202, compared.text
