"""The sandbox in force, read back from the kernel: privileges, environment, limits,
namespaces; start failures with their reason; no temp directories left behind."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from app.errors import TargetError
from app.experiment import Experiment
from app.sandbox.child.fsview import blocked_dirs, needed_paths
from app.sandbox.environment import TMP_PREFIX, remove_stale_dirs
from app.sandbox.isolation import UNPRIVILEGED, netns_unavailable_reason, pidns_unavailable_reason, plan
from app.sandbox.settings import TargetSettings
from app.sandbox.target import Target
from tests.support import ROOT

pytestmark = [pytest.mark.target]

SECRET = "connscope-test-secret-3f9a"
# The settings schemathesis found: the target dies of its memory cap during the probe.
DIES_WHILE_PROBED = {
    "limit_max_requests": 1,
    "limit_concurrency": 1,
    "somaxconn": 1,
    "memory_limit_mb": 32,
    "cpu_limit_s": 1,
    "instrument": False,
    "http": "h11",
    "loop": "asyncio",
    "backlog": 2330,
    "open_files": 64,
}
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the uid drop happens when started as root")
pid_namespaces = pytest.mark.skipif(pidns_unavailable_reason() is not None, reason="no pid namespaces here")


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


def _with_target(settings: TargetSettings, check: Callable[[Target], Any]) -> Any:
    async def scenario() -> Any:
        target = Target(settings)
        await target.start()
        try:
            return check(target)
        finally:
            await target.stop()

    return asyncio.run(scenario())


def _target_pids(target: Target) -> list[int]:
    """The uvicorn process and, with workers, every worker."""
    assert target.status.pid is not None
    return [target.status.pid] + [c.pid for c in psutil.Process(target.status.pid).children(recursive=True)]


@pytest.mark.parametrize("workers", [1, 2])
def test_target_and_its_workers_hold_no_privileges(workers: int) -> None:
    def check(target: Target) -> list[dict[str, str]]:
        return [_status(pid) for pid in _target_pids(target)]

    statuses = _with_target(TargetSettings(workers=workers), check)
    assert len(statuses) >= (1 if workers == 1 else 1 + workers)
    for status in statuses:
        assert status["CapEff"] == status["CapPrm"] == status["CapInh"] == "0000000000000000"
        assert status["CapAmb"] == "0000000000000000"
        assert status["NoNewPrivs"].strip() == "1"
        if os.geteuid() == 0:
            assert status["Uid"].split() == [str(UNPRIVILEGED)] * 4
            assert status["Gid"].split() == [str(UNPRIVILEGED)] * 4
            assert status["Groups"].strip() == ""
            assert status["CapBnd"] == "0000000000000000"


def test_target_environment_holds_nothing_of_the_control_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNSCOPE_TOKEN", SECRET)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)

    def check(target: Target) -> dict[str, str]:
        with open(f"/proc/{target.status.pid}/environ", "rb") as environ:
            entries = environ.read().decode().split("\0")
        return dict(entry.split("=", 1) for entry in entries if entry)

    env = _with_target(TargetSettings(), check)
    assert SECRET not in "".join(f"{k}={v}" for k, v in env.items())
    assert "CONNSCOPE_TOKEN" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert env["HOME"].startswith(os.path.join(tempfile.gettempdir(), TMP_PREFIX))
    # Only the names the sandbox passes on, and the target's own settings.
    allowed = {
        "PATH",
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "TZ",
        "HOME",
        "PYTHONPATH",
        "MALLOC_ARENA_MAX",
        "PYTHONUNBUFFERED",
        "PYTHONDONTWRITEBYTECODE",
    }
    assert {k for k in env if not k.startswith("CONNSCOPE_")} <= allowed


def test_target_has_a_task_limit_that_still_fits_its_thread_pool() -> None:
    def check(target: Target) -> int:
        with open(f"/proc/{target.status.pid}/limits") as limits:
            line = next(line for line in limits if line.startswith("Max processes"))
        return int(line.split()[2])

    limit = _with_target(TargetSettings(handler="sync"), check)
    # 40 threads of uvicorn's pool plus the loop and the event pump, and what the uid runs.
    assert 64 <= limit < 10_000


@pid_namespaces
def test_target_has_its_own_pid_and_mount_namespace_and_sees_only_its_code() -> None:
    def check(target: Target) -> tuple[dict[str, str], dict[str, str], dict[str, list[str]], str]:
        pid = target.status.pid
        assert pid is not None
        theirs = {ns: os.readlink(f"/proc/{pid}/ns/{ns}") for ns in ("pid", "mnt", "net")}
        ours = {ns: os.readlink(f"/proc/self/ns/{ns}") for ns in ("pid", "mnt", "net")}
        # /proc/PID/root is the file system as the target sees it.
        seen = {
            d: sorted(os.listdir(f"/proc/{pid}/root{d}"))
            for d in blocked_dirs(needed_paths(), UNPRIVILEGED, UNPRIVILEGED)
        }
        return theirs, ours, seen, _status(pid)["NSpid"]

    theirs, ours, seen, nspid = _with_target(TargetSettings(), check)
    assert theirs["pid"] != ours["pid"] and theirs["mnt"] != ours["mnt"]
    if netns_unavailable_reason() is None:
        assert theirs["net"] != ours["net"]
    # Host pid, then pid 2 inside: pid 1 is the namespace's init, not uvicorn.
    assert nspid.split()[1:] == ["2"]
    for directory, entries in seen.items():
        if directory in needed_paths():
            # The code's own directory is the blocked one (a clone in a 0700 temp dir): it
            # comes back entry by entry, links left out.
            wanted = {e for e in os.listdir(directory) if not os.path.islink(os.path.join(directory, e))}
        else:
            wanted = {Path(p).relative_to(directory).parts[0] for p in needed_paths() if p.startswith(directory + "/")}
        assert set(entries) == wanted, f"{directory} shows more than the target's code"


@as_root
@pid_namespaces
def test_code_in_a_directory_only_root_may_enter_still_runs_as_the_unprivileged_uid(tmp_path: Path) -> None:
    """A clone in `mktemp -d` (mode 0700): its own directory is the one uid 65534 cannot
    enter, and the target must still reach its code there."""
    private = tmp_path / "clone"
    private.mkdir(mode=0o700)
    shutil.copytree(ROOT / "app", private / "app", ignore=shutil.ignore_patterns("__pycache__"))
    # In the target's own mount namespace, as its uid: can it read the copy's code? (Without
    # this it would fall back silently to another install of `app` on the import path.)
    script = textwrap.dedent(f"""
        import asyncio, subprocess
        import app
        from app.sandbox.settings import TargetSettings
        from app.sandbox.target import Target

        async def main():
            target = Target(TargetSettings())
            try:
                await target.start(timeout=30)
                print(app.__file__, flush=True)
                pid = target.status.pid
                print(open(f"/proc/{{pid}}/status").read(), flush=True)
                reach = subprocess.run(
                    ["nsenter", "-t", str(pid), "-m", "setpriv", "--reuid={UNPRIVILEGED}",
                     "--regid={UNPRIVILEGED}", "--clear-groups", "test", "-r", app.__file__])
                print("reachable" if reach.returncode == 0 else "unreachable", flush=True)
            finally:
                await target.stop()

        asyncio.run(main())
    """)
    run = subprocess.run([sys.executable, "-c", script], cwd=private, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith(str(private / "app")), "the copy's code ran, not the repository's"
    uid = next(line for line in run.stdout.splitlines() if line.startswith("Uid:"))
    assert uid.split()[1:] == [str(UNPRIVILEGED)] * 4
    assert run.stdout.splitlines()[-1] == "reachable"


def test_sandbox_in_force_is_read_back_and_described() -> None:
    def check(target: Target) -> tuple[str, dict[str, Any] | None]:
        return target.status.isolation, target.status.sandbox

    description, sandbox = _with_target(TargetSettings(memory_limit_mb=1024), check)
    assert sandbox is not None
    assert sandbox["capabilities"] == 0 and sandbox["no_new_privs"] is True
    assert "no capabilities · no new privileges" in description
    assert description.endswith("· 1 GiB") or " · 1 GiB · " in description
    if os.geteuid() == 0 and plan().uid is not None:
        assert sandbox["uid"] == UNPRIVILEGED and f"uid {UNPRIVILEGED}" in description
    if pidns_unavailable_reason() is None:
        assert {"pid", "mnt"} <= set(sandbox["own_namespaces"])
        assert "own pid namespace" in description


def test_sigterm_stops_a_target_in_its_pid_namespace_gracefully() -> None:
    async def scenario() -> str:
        target = Target(TargetSettings())
        await target.start()
        await target.stop()
        return target.status.describe_exit()

    # uvicorn handled SIGTERM and exited 0: no SIGKILL after the grace period was needed.
    assert asyncio.run(scenario()) == "stopped on request"


@pytest.mark.skipif(netns_unavailable_reason() is not None, reason="kernel knobs need a network namespace")
def test_target_dying_during_its_readiness_probe_is_a_start_failure_with_its_reason() -> None:
    async def scenario() -> str:
        experiment = Experiment(TargetSettings(**DIES_WHILE_PROBED))
        try:
            with pytest.raises(TargetError) as error:
                await experiment.start()
            assert experiment.target.status.state == "crashed"
            return str(error.value)
        finally:
            await experiment.stop()

    message = asyncio.run(scenario())
    assert "failed to start (exit status 1)" in message
    assert "memory 32 MiB" in message
    assert "MemoryError" in message


@pytest.mark.skipif(netns_unavailable_reason() is not None, reason="kernel knobs need a network namespace")
def test_api_answers_a_target_dying_during_its_probe_with_its_reason_not_500(dashboard: str) -> None:
    response = httpx.post(f"{dashboard}/api/targets", json=DIES_WHILE_PROBED, timeout=60)
    assert response.status_code == 409, response.text
    body = response.json()
    assert "failed to start (exit status 1)" in body["detail"]
    assert body["target"]["state"] == "crashed" and body["target"]["error"] == body["detail"]


def test_api_and_target_panel_show_the_sandbox_in_force(dashboard: str) -> None:
    response = httpx.post(f"{dashboard}/api/targets", json={}, timeout=60)
    assert response.status_code == 201, response.text
    target = response.json()
    assert target["sandbox"]["capabilities"] == 0
    panel = httpx.get(f"{dashboard}/partials/target", timeout=10).text
    assert target["isolation"] in panel
    assert "no capabilities" in panel
    if os.geteuid() == 0:
        assert f"uid {UNPRIVILEGED}" in panel
    httpx.delete(f"{dashboard}/api/targets/{target['id']}", timeout=30)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_stale_temp_dirs_of_dead_owners_are_removed_live_ones_kept() -> None:
    base = Path(tempfile.gettempdir())
    dead = base / f"{TMP_PREFIX}{_dead_pid()}-stale"
    live = base / f"{TMP_PREFIX}{os.getpid()}-live"
    for d in (dead, live):
        d.mkdir()
        (d / "events.sock").touch()
    try:
        remove_stale_dirs()
        assert not dead.exists()
        assert live.exists()
    finally:
        for d in (dead, live):
            if d.exists():
                (d / "events.sock").unlink()
                d.rmdir()


def test_control_app_killed_with_sigkill_leaves_no_temp_dir_after_the_next_start() -> None:
    script = textwrap.dedent("""
        import asyncio
        import app
        from app.sandbox.settings import TargetSettings
        from app.sandbox.target import Target

        async def main():
            target = Target(TargetSettings())
            await target.start()
            print(target._tmp.name, flush=True)
            await asyncio.sleep(60)

        asyncio.run(main())
    """)
    control = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        left = Path(control.stdout.readline().strip() if control.stdout else "")
        assert left.name.startswith(f"{TMP_PREFIX}{control.pid}-") and left.is_dir()
        control.send_signal(signal.SIGKILL)
        control.wait(5)
        assert left.is_dir(), "kill -9 gives the control app no chance to clean up"
        _with_target(TargetSettings(), lambda target: None)
        assert not left.exists()
    finally:
        control.kill()
