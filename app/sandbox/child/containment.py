"""Containment applied inside target processes: death with the parent, no new privileges,
resource limits."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.sandbox.settings import TargetSettings

PARENT_ENV = "CONNSCOPE_PARENT"
UNPRIVILEGED = 65534  # nobody / nogroup
SUPERVISOR_ENV = "CONNSCOPE_SUPERVISOR"
NPROC_ENV = "CONNSCOPE_NPROC"
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
THREAD_STACK = 2 * 1024 * 1024


def _prctl(option: int, value: int, name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({name}) failed")


def die_with_parent(parent_pid: int) -> None:
    """The kernel kills us when our parent dies, even by SIGKILL. `parent_pid` is the
    parent as this process sees it (0 when it lives outside our pid namespace). Changing
    uid disarms the signal, so this runs after any privilege drop."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "PR_SET_PDEATHSIG")
    if os.getppid() != parent_pid:
        # The parent died before the death signal was armed.
        sys.exit(1)


def no_new_privs() -> None:
    """No exec can give this process or its children a privilege (setuid, file caps)."""
    _prctl(PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS")


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
    # Counted per real uid across the machine; the control app works out what fits.
    nproc = os.environ.get(NPROC_ENV)
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (int(nproc), int(nproc)))


def arm_worker() -> None:
    """In a uvicorn worker process: die with the supervisor (the runner), which itself dies
    with the control app, so no worker outlives a SIGKILLed control app."""
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if supervisor and int(supervisor) != os.getpid():
        die_with_parent(int(supervisor))
