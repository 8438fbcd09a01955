"""Containment applied inside target processes: death with the parent, resource limits."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
import threading

from app.sandbox.settings import TargetSettings

SUPERVISOR_ENV = "CONNSCOPE_SUPERVISOR"
PR_SET_PDEATHSIG = 1
THREAD_STACK = 2 * 1024 * 1024


def die_with_parent(parent_pid: int) -> None:
    """The kernel kills us when the control app dies, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:
        # The parent died before the death signal was armed.
        sys.exit(1)


def apply_limits(settings: TargetSettings) -> None:
    memory = settings.memory_limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (settings.cpu_limit_s, settings.cpu_limit_s + 5))
    resource.setrlimit(resource.RLIMIT_NOFILE, (settings.open_files, settings.open_files))
    # Thread stacks reserve address space: 40 thread-pool threads at 8 MiB each would eat
    # a third of a small memory cap before any request ran. The rlimit reaches spawned
    # workers; stack_size() this process, whose glibc read the rlimit at start-up.
    resource.setrlimit(resource.RLIMIT_STACK, (THREAD_STACK, resource.RLIM_INFINITY))
    threading.stack_size(THREAD_STACK)
    big_file = 64 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (big_file, big_file))


def arm_worker() -> None:
    """In a uvicorn worker process: die with the supervisor (the runner), which itself dies
    with the control app, so no worker outlives a SIGKILLed control app."""
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if supervisor and int(supervisor) != os.getpid():
        die_with_parent(int(supervisor))
