"""A private network namespace for an experiment whose kernel knobs differ from the host's.

A listening socket obeys the knobs of the namespace it was created in, and so do client
sockets; so the control app creates the listener, the clients and its netlink socket while
its thread has entered the private namespace, and the host is never touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from app.errors import NetnsError
from app.sandbox.child.containment import PARENT_ENV
from app.sandbox.environment import KEPT_ENV
from app.sandbox.isolation import isolation_prefix, netns_unavailable_reason

CLONE_NEWNET = 0x40000000
ROOT = Path(__file__).resolve().parents[2]


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


def holder_environment() -> dict[str, str]:
    """The holder gets no more of the control app's environment than a target does."""
    return {"PATH": os.defpath, **{name: os.environ[name] for name in KEPT_ENV if name in os.environ}}


class PrivateNetwork:
    def __init__(self, sysctls: dict[str, str]) -> None:
        self.sysctls = sysctls
        self._holder: subprocess.Popen[str] | None = None
        self._ns_fd = -1
        self._host_fd = -1

    def open(self) -> None:
        reason = netns_unavailable_reason()
        if reason is not None:
            raise NetnsError(reason)
        assignments = [f"{key}={value}" for key, value in self.sysctls.items()]
        self._holder = subprocess.Popen(
            [*isolation_prefix(), sys.executable, "-m", "app.sandbox.child.netns_holder", *assignments],
            cwd=ROOT,
            env={**holder_environment(), PARENT_ENV: str(os.getpid())},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self._holder.stdout is not None
        if self._holder.stdout.readline().strip() != "ready":
            error = self._holder.stderr.read() if self._holder.stderr else ""
            self.close()
            raise NetnsError(f"could not set up the private network namespace: {error.strip()}")
        self._ns_fd = os.open(f"/proc/{self._holder.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self._host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """The calling thread works in the private namespace for the block. Sockets made in
        it stay there; the block must not await (other tasks share this thread)."""
        _setns(self._ns_fd)
        try:
            yield
        finally:
            _setns(self._host_fd)

    @property
    def proc_net(self) -> Path:
        """The namespace's view under /proc (its counters), through the process holding it."""
        assert self._holder is not None
        return Path(f"/proc/{self._holder.pid}/net")

    def close(self) -> None:
        for fd in (self._ns_fd, self._host_fd):
            if fd >= 0:
                os.close(fd)
        self._ns_fd = self._host_fd = -1
        if self._holder is not None:
            self._holder.kill()
            self._holder.wait()
            self._holder = None
