"""What tests, benchmarks and the screenshot script share: a real dashboard process on a
free loopback port, polling a burst to its end, the browser's paths. Importable without
pytest (`bench/` and `docs/` scripts run from the repository root)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from app.sandbox.apps import UserApp
from app.sandbox.settings import TargetSettings
from app.sandbox.target import Target
from app.witness_protocol import ServerEvent

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM: str | None = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
"""Debian's Chromium; None (Playwright's own, which ./setup.sh --test fetches there) where the
distribution has it only as a snap: Ubuntu."""
CDN_HOST = "cdn.jsdelivr.net"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def dashboard_process(
    *extra: str, host: str = "127.0.0.1", env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """A real `connscope serve` process on a free port of `host`, as a user runs it; yields
    its base URL, the process and the file its stderr goes to (what it printed)."""
    port = free_port()
    fd, name = tempfile.mkstemp(prefix=f"connscope-serve-{port}-", suffix=".log")
    log = Path(name)
    with os.fdopen(fd, "w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", host, "--port", str(port), *extra],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=None if env is None else dict(env),
        )
        url = f"http://{host}:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    httpx.get(url + "/api/targets", timeout=1).raise_for_status()
                    break
                except httpx.HTTPError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"dashboard did not start: {log.read_text()}") from None
                    time.sleep(0.1)
            yield url, proc, log
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.unlink(missing_ok=True)


@contextlib.contextmanager
def serve_dashboard(*extra: str) -> Iterator[str]:
    """A real `connscope serve` process on a free loopback port; yields its base URL."""
    with dashboard_process(*extra) as (url, _, _):
        yield url


def start_target(url: str, settings: dict[str, Any]) -> dict[str, Any]:
    """A target started through the API, asserted ready."""
    response = httpx.post(f"{url}/api/targets", json=settings, timeout=60)
    assert response.status_code == 201, response.text
    target: dict[str, Any] = response.json()
    assert target["state"] == "ready", target
    return target


def wait_burst(
    url: str, target_id: int, burst_id: int, seconds: float = 60, request_timeout_s: float = 10
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = httpx.get(f"{url}/api/targets/{target_id}/bursts/{burst_id}", timeout=request_timeout_s)
        # 404 until it is fired: a scenario fires its burst once its target is ready.
        result: dict[str, Any] = response.json()
        if response.status_code != 404 and result["done"]:
            return result
        time.sleep(0.2)
    raise TimeoutError(f"burst {burst_id} not done in {seconds} s")


def wait_run_id(url: str, target_id: int, seconds: float = 30) -> int:
    """The recorded run of the target's last burst: stored just after the burst is done (and
    the store may be shared by other dashboards), so wait for this burst's own id."""
    deadline = time.monotonic() + seconds
    while (run_id := httpx.get(f"{url}/api/targets/{target_id}", timeout=10).json()["bursts"][-1]["run_id"]) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the last burst of target {target_id} was not recorded in {seconds} s")
        time.sleep(0.1)
    return int(run_id)


def enter_and_answer_delays(
    settings: TargetSettings, path: str = "/", app: UserApp | None = None
) -> tuple[float, float]:
    """One request to a real target: seconds from sending it to its `enter` report reaching
    the control app, and to its response. What the live view can show of a request that
    holds its slot depends on the first."""

    async def scenario() -> tuple[float, float]:
        entered: list[float] = []

        def on_event(event: ServerEvent) -> None:
            if event.kind == "enter" and not entered:
                entered.append(time.monotonic())

        target = Target(settings, on_event=on_event, app=app)
        await target.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
            sent = time.monotonic()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
            response = await asyncio.wait_for(reader.read(), 30)
            answered = time.monotonic()
            writer.close()
            assert response.startswith(b"HTTP/1.1 200"), response[:100]
            deadline = time.monotonic() + 5
            while not entered and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert entered, "no enter was reported"
            return entered[0] - sent, answered - sent
        finally:
            await target.stop()

    return asyncio.run(scenario())
