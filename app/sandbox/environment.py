"""What a target process is given of the control app's world: an environment with nothing
of ours in it, a task limit that fits, a private temporary directory (and the removal of
those a killed control app left behind)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import psutil

from app.sandbox.child.launcher import SANDBOX_ENV
from app.sandbox.isolation import Plan

ROOT = Path(__file__).resolve().parents[2]
TMP_PREFIX = "connscope-"
# What a target gets of the control app's environment; nothing else (no tokens, no keys).
KEPT_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
# Threads and processes one target process may need: uvicorn's thread pool of 40 for `def`
# endpoints, the event channel's pump, and room to spare.
TASKS_PER_PROCESS = 64


def remove_stale_dirs() -> None:
    """Temp directories left by a control app that died without cleaning up (kill -9): each
    is named after its owner's pid, and removed once no process has that pid."""
    for path in Path(tempfile.gettempdir()).glob(f"{TMP_PREFIX}*-*"):
        owner = path.name[len(TMP_PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not psutil.pid_exists(int(owner)) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def tasks_limit(uid: int, workers: int) -> int:
    """RLIMIT_NPROC counts every task of the real uid on the machine, so the limit is what
    that uid already runs plus what this target may need."""
    running = 0
    for proc in psutil.process_iter(["uids", "num_threads"]):
        uids = proc.info["uids"]
        if uids is not None and uids.real == uid:
            running += proc.info["num_threads"] or 0
    processes = workers + 1 if workers > 1 else 1
    return running + TASKS_PER_PROCESS * processes


def environment(sandbox: Plan, home: str) -> dict[str, str]:
    kept = {name: os.environ[name] for name in KEPT_ENV if name in os.environ}
    return {
        "PATH": os.defpath,
        **kept,
        "HOME": home,
        "PYTHONPATH": str(ROOT),
        "MALLOC_ARENA_MAX": "2",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        SANDBOX_ENV: json.dumps(
            {"pid_namespace": sandbox.pid_namespace, "mount_namespace": sandbox.mount_namespace, "uid": sandbox.uid}
        ),
    }
