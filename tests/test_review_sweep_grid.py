"""A sweep's grid is refused by its size before its cells are built: a few long lists in a
form or on the command line multiply into more cells than the dashboard's memory holds, and
building them blocks the event loop every live view depends on."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from app.errors import CapExceeded
from app.limits import Limits
from app.sweep import plan
from tests.support import ROOT

VALUES = ",".join(str(n) for n in range(1, 41))


def test_plan_refuses_a_grid_over_the_cap_before_building_its_cells() -> None:
    started = time.monotonic()
    with pytest.raises(CapExceeded) as refused:
        plan(
            {"handler_ms": VALUES.split(",")},
            {"connections": VALUES.split(","), "pause_ms": VALUES.split(",")},
            1,
            limits=Limits(),
        )
    assert (
        refused.value.message
        == "64000 runs in one sweep (cells × repeats) is over the cap of 64; --max-sweep-runs raises it."
    )
    assert time.monotonic() - started < 0.5, "refused from the axes' lengths, not from 64000 built cells"


@pytest.mark.target
def test_the_form_refuses_a_huge_grid_at_once_and_the_dashboard_keeps_answering(dashboard: str) -> None:
    # 40**5 cells: ~10**8, more than the dashboard could build.
    form = {name: VALUES for name in ("handler_ms", "response_bytes", "connections", "client_timeout_s", "pause_ms")}
    response = httpx.post(f"{dashboard}/sweeps", data=form | {"repeat": "1"}, timeout=15)
    assert response.status_code == 422
    assert "102400000 runs in one sweep (cells × repeats) is over the cap of 64" in response.text
    assert httpx.get(f"{dashboard}/api/targets", timeout=5).status_code == 200


def test_the_cli_refuses_a_huge_grid_in_one_line() -> None:
    flags = [
        f"--{name}={VALUES}" for name in ("handler-ms", "response-bytes", "connections", "client-timeout", "pause-ms")
    ]
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "sweep", *flags, "--no-record"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "connscope: error: 102400000 runs in one sweep (cells × repeats) is over the cap of 64; "
        "--max-sweep-runs raises it."
    ]
