"""What a new user meets first: `connscope --help`, a port already taken, Ctrl-C, README links.

That the README's commands work on a stock machine is proved by `.ci/run` itself, which runs
them in a fresh clone with only the system's PATH."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets

from app.web import live
from tests.support import free_port, serve_dashboard

pytestmark = [pytest.mark.target]

ROOT = Path(__file__).resolve().parents[1]


def connscope(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_help_lists_the_dashboards_own_flags() -> None:
    done = connscope("--help")
    assert done.returncode == 0
    for flag in ("--host HOST", "--port PORT", "--offline", "--store PATH"):
        assert flag in done.stdout
    for command in ("run", "scenarios", "runs", "export"):
        assert re.search(rf"^\s+{command}\s", done.stdout, re.MULTILINE), command


def test_dashboard_flags_work_with_and_without_serve(tmp_path: Path) -> None:
    """`serve` stays an alias; flags given before it are kept."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for args in (["--port", port], ["serve", "--port", port], ["--port", port, "serve"]):
            done = connscope(*args)
            assert done.returncode == 2, args
            assert f"127.0.0.1:{port} is already in use" in done.stderr, args


def test_a_port_already_taken_gets_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = connscope("--port", str(port))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"connscope: error: --port {port}: 127.0.0.1:{port} is already in use (choose another with --port)"
    ]


def test_a_host_that_is_not_this_machines_gets_one_line_and_exit_2() -> None:
    done = connscope("--host", "192.0.2.1", "--port", str(free_port()))
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("connscope: error: --host 192.0.2.1")


def test_a_viewer_that_leaves_leaves_no_task_behind() -> None:
    """The cause of "Task was destroyed but it is pending!" at shutdown: a viewer's pending
    queue read outlived it."""

    class Socket:
        async def send_text(self, text: str) -> None:
            pass

    class Registry:
        def __init__(self) -> None:
            self.changed = asyncio.Condition()
            self.current = object()

    async def scenario() -> list[asyncio.Task[object]]:
        follower = asyncio.create_task(live._follow(Socket(), Registry(), asyncio.Queue()))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        follower.cancel()
        with pytest.raises(asyncio.CancelledError):
            await follower
        gc.collect()
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(scenario()) == []


async def _interrupt_while_a_target_starts(port: int, delay_s: float) -> subprocess.Popen[str]:
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            viewer = await websockets.connect(f"ws://127.0.0.1:{port}/ws")
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
    await viewer.recv()
    # The kernel-knobs scenario starts slowest (a private network namespace first): the
    # viewer follows the new target while Ctrl-C lands. A terminal's Ctrl-C reaches the
    # whole process group, targets included.
    async with httpx.AsyncClient(timeout=30, headers={"Origin": base}) as client:
        starting = asyncio.create_task(client.post(f"{base}/scenarios/kernel-knobs"))
        await asyncio.sleep(delay_s)
        os.killpg(proc.pid, signal.SIGINT)
        # Answered or cut by the shutdown: either is fine, the terminal is what is checked.
        with contextlib.suppress(httpx.HTTPError):
            await starting
    await viewer.close()
    return proc


@pytest.mark.parametrize("delay_s", [0.05, 0.1, 0.15])
def test_ctrl_c_with_a_viewer_open_ends_cleanly(delay_s: float) -> None:
    proc = asyncio.run(_interrupt_while_a_target_starts(free_port(), delay_s))
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "Task was destroyed" not in stderr
    assert "Traceback" not in stderr
    assert stderr.startswith("connscope dashboard: http://127.0.0.1:")


def test_the_readme_points_only_at_files_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    tracked = set(
        subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()
    )
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert local, "the README links no file of its own"
    assert [link for link in local if link not in tracked] == []


def test_the_containers_healthcheck_passes_while_the_dashboard_serves() -> None:
    """The Dockerfile's HEALTHCHECK command, run as written against a real dashboard."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    line = next(text for text in lines if text.strip().startswith('CMD ["python"'))
    command = json.loads(line.strip().removeprefix("CMD "))
    assert command[0] == "python" and "http://127.0.0.1:8000/healthz" in command[-1]
    with serve_dashboard() as url:
        check = [sys.executable, *command[1:-1], command[-1].replace("http://127.0.0.1:8000", url)]
        assert subprocess.run(check, timeout=30).returncode == 0
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    failed = subprocess.run(check, capture_output=True, timeout=30)
    assert failed.returncode != 0
