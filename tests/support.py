"""What tests, benchmarks and the screenshot script share: a real dashboard process on a
free loopback port, polling a burst to its end, the browser's paths. Importable without
pytest (`bench/` and `docs/` scripts run from the repository root)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CDN_HOST = "cdn.jsdelivr.net"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_dashboard(*extra: str) -> Iterator[str]:
    """A real `connscope serve` process on a free loopback port; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), *extra],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/api/targets", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    stderr = proc.stderr.read() if proc.stderr else ''
                    raise RuntimeError(f"dashboard did not start: {stderr}") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_burst(url: str, target_id: int, burst_id: int, seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result: dict[str, Any] = httpx.get(f"{url}/api/targets/{target_id}/bursts/{burst_id}", timeout=10).json()
        if result["done"]:
            return result
        time.sleep(0.2)
    raise TimeoutError(f"burst {burst_id} not done in {seconds} s")
