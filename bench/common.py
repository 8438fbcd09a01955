"""What every benchmark shares: the machine's description, repeat statistics, wrk, the
dashboard as a user runs it, and the JSON file the figures go to."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import time
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from tests.support import dashboard_process, wait_burst

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
WRK = shutil.which("wrk") or "/usr/bin/wrk"


def machine() -> dict[str, Any]:
    """Enough to tell whether two result files are comparable."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_mb": round(mem_kb / 1024) if "mem_kb" in locals() else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "uvicorn": metadata.version("uvicorn"),
        "uvloop": metadata.version("uvloop"),
        "wrk": _wrk_version(),
        "load_avg_at_start": os.getloadavg(),
    }


def _wrk_version() -> str | None:
    try:
        out = subprocess.run([WRK, "-v"], capture_output=True, text=True, timeout=5)
    except OSError:
        return None
    match = re.search(r"wrk (\S+)", out.stdout + out.stderr)
    return match.group(1) if match else None


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median and the range around it (on a shared 2-core machine the range is the point),
    and the median's 95% confidence interval where there are enough repeats to have one."""
    ordered = sorted(values)
    figures = {
        "median": round(statistics.median(ordered), 4),
        "min": round(ordered[0], 4),
        "max": round(ordered[-1], 4),
        "n": len(ordered),
    }
    interval = median_interval(ordered)
    if interval is not None:
        figures["ci95_low"], figures["ci95_high"] = round(interval[0], 4), round(interval[1], 4)
    return figures


def median_interval(ordered: Sequence[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """A distribution-free confidence interval for the median of sorted repeats: the j-th
    smallest and j-th largest, j as large as the binomial law allows (each repeat falls
    below the true median with chance 1/2). A round hit by the machine's noise moves it no
    more than any other round, which is why it suits these benchmarks. None below 6 repeats."""
    n = len(ordered)
    tail = (1 - confidence) / 2
    j, below = 0, 0.0
    while j < n:
        below += math.comb(n, j) / 2**n
        if below > tail:
            break
        j += 1
    if j == 0:
        return None
    return ordered[j - 1], ordered[n - j]


def interval_text(figures: dict[str, float], digits: int = 3) -> str:
    """`; 95% CI of the median 0.941–0.987` when `spread` found one, else nothing."""
    if "ci95_low" not in figures:
        return ""
    return f"; 95% CI of the median {figures['ci95_low']:.{digits}f}–{figures['ci95_high']:.{digits}f}"


def write(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    body = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine()} | payload
    path.write_text(json.dumps(body, indent=2) + "\n")
    print(f"→ {path.relative_to(ROOT)}")
    return path


_LATENCY_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(port: int, connections: int, seconds: float, threads: int = 1) -> dict[str, float]:
    """wrk against 127.0.0.1:port: requests per second and latency percentiles (ms)."""
    out = subprocess.run(
        [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rate is None:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    figures = {"req_s": float(rate.group(1))}
    for pct, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)$", out, re.M):
        figures[f"p{pct}_ms"] = float(value) * _LATENCY_UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return figures


@contextlib.contextmanager
def dashboard(*extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real `connscope serve` process, as a user runs it, recording into the benchmarks'
    own store; yields its URL and process."""
    env = os.environ | {"CONNSCOPE_STORE": str(RESULTS / "bench-runs.sqlite3")}
    with dashboard_process(*extra, env=env) as (url, proc, _):
        yield url, proc


def fire(url: str, target_id: int, timeout_s: float = 300, **spec: Any) -> dict[str, Any]:
    """Fires a burst through the API and returns its result once done."""
    response = httpx.post(f"{url}/api/targets/{target_id}/bursts", json=spec, timeout=30)
    response.raise_for_status()
    return wait_burst(url, target_id, response.json()["id"], seconds=timeout_s, request_timeout_s=60)


def workload(**overrides: Any) -> dict[str, Any]:
    """The issue's target: the workload app, async handler, 0 ms, uvloop, backlog 4096."""
    return {"handler": "async", "handler_ms": 0, "loop": "uvloop", "backlog": 4096} | overrides


@contextlib.contextmanager
def py_spy(pid: int, name: str, gil: bool = False) -> Iterator[Path]:
    """Records `pid` with py-spy while the block runs, into a speedscope file beside the
    results (`python3 -m bench.profile_top FILE` prints its top functions); with `gil`,
    only samples holding the GIL (what slows the loop the burst shares)."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}-profile.speedscope.json"
    command = [shutil.which("py-spy") or "py-spy", "record", "--pid", str(pid), "--rate", "250"]
    command += ["--format", "speedscope", "--output", str(out), "--nonblocking", *(["--gil"] if gil else [])]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield out
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)
