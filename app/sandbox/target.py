"""Starting, watching and stopping one sandboxed uvicorn target (control-app side)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psutil

from app import witness_protocol
from app.errors import TargetError
from app.kernel import read_accept_queue
from app.sandbox import applied
from app.sandbox.apps import UserApp
from app.sandbox.child.channel import EVENTS_PATH_ENV
from app.sandbox.child.containment import NPROC_ENV, PARENT_ENV
from app.sandbox.child.fsview import APP_DIR_ENV
from app.sandbox.child.runner import FD_ENV
from app.sandbox.child.userapp import APP_ENV, LOAD_FAILED
from app.sandbox.environment import ROOT, TMP_PREFIX, environment, remove_stale_dirs, tasks_limit
from app.sandbox.isolation import Plan, plan
from app.sandbox.netns import PrivateNetwork
from app.sandbox.settings import SETTINGS_ENV, TargetSettings
from app.witness_protocol import ServerEvent

PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid

TargetState = Literal["starting", "ready", "crashed", "exited", "stopped"]
OUTPUT_TAIL_LINES = 200
STOP_GRACE_S = 3.0


@dataclass
class TargetStatus:
    state: TargetState = "starting"
    pid: int | None = None
    exit_status: int | None = None
    isolation: str = ""
    sandbox: dict[str, Any] | None = None
    """What /proc says of the running target: namespaces, uid, capabilities, limits."""
    output_tail: list[str] = field(default_factory=list)

    def describe_exit(self) -> str:
        if self.exit_status is None:
            return "running"
        if self.state == "stopped":
            return "stopped on request"
        if self.exit_status < 0:
            number = -self.exit_status
            name = signal.Signals(number).name if number in signal.valid_signals() else f"signal {number}"
            return f"killed by {name}"
        return f"exit status {self.exit_status}"


def make_listener(backlog: int) -> socket.socket:
    """The listening socket the target inherits. The control app keeps its copy only until
    the target is ready: held longer, it would keep the port listening after uvicorn closed
    it, and late clients would queue instead of being refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    return sock


class _ServerEvents(asyncio.Protocol):
    """One target process's report stream, decoded in the loop's own callback as it
    arrives. A busy target reports tens of thousands of facts a second to the loop that also
    drives the client: a stream reader's buffer copy, future and task step per read cost
    that loop more than decoding the records."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._pid: int | None = None
        self._rest = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._pid = self._target._own_peer(transport.get_extra_info("socket"))
        if self._pid is None:
            transport.close()

    def data_received(self, data: bytes) -> None:
        if self._pid is None:
            return
        if self._rest:
            data = self._rest + data
        # The stream carries whole records, but a read may end inside one.
        whole = len(data) - len(data) % witness_protocol.RECORD.size
        self._rest = data[whole:]
        self._target._deliver(memoryview(data)[:whole], self._pid)


class Target:
    def __init__(
        self,
        settings: TargetSettings,
        on_event: Callable[[ServerEvent], None] | None = None,
        network: PrivateNetwork | None = None,
        app: UserApp | None = None,
    ) -> None:
        self.settings = settings
        self.app = app
        self.network = network
        self.on_event = on_event or (lambda event: None)
        self.status = TargetStatus()
        self._listener: socket.socket | None = None
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=OUTPUT_TAIL_LINES)
        self._workers_ready: set[int] = set()
        self._exited = asyncio.Event()
        self._stopping = False
        self._event_server: asyncio.Server | None = None
        remove_stale_dirs()
        self._tmp = tempfile.TemporaryDirectory(prefix=f"{TMP_PREFIX}{os.getpid()}-")

    @property
    def ready(self) -> bool:
        """Serving, and not on its way out: a burst fired now would meet a live server."""
        return self.status.state == "ready" and not self._stopping

    @property
    def worker_pids(self) -> list[int]:
        """The uvicorn processes that reported ready (instrumented targets only)."""
        return sorted(self._workers_ready)

    @property
    def output_tail(self) -> list[str]:
        return list(self._tail)

    async def start(self, timeout: float = 30.0) -> None:
        """Returns once the target accepts connections; raises TargetError, with the reason,
        if it cannot."""
        try:
            await self._start(timeout)
        except OSError as exc:
            await self.stop()
            raise TargetError(self._report(f"could not be started: {exc}")) from None

    async def _start(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        sandbox = plan()
        path = str(Path(self._tmp.name) / "events.sock")
        self._event_server = await loop.create_unix_server(lambda: _ServerEvents(self), path=path)
        if sandbox.uid is not None:
            # Root owns both; the target reaches the socket through its group, others not at all.
            for entry, mode in ((self._tmp.name, 0o710), (path, 0o660)):
                os.chown(entry, -1, sandbox.uid)
                os.chmod(entry, mode)
        with self._network():
            self._listener = make_listener(self.settings.backlog)
        self.port = self._listener.getsockname()[1]
        self._listener.set_inheritable(True)
        max_tasks = await asyncio.to_thread(tasks_limit, sandbox.uid or os.getuid(), self.settings.workers)
        env = environment(sandbox, self._tmp.name) | {
            SETTINGS_ENV: self.settings.to_env(),
            PARENT_ENV: str(os.getpid()),
            FD_ENV: str(self._listener.fileno()),
            EVENTS_PATH_ENV: path if self.settings.instrument else "",
            NPROC_ENV: str(max_tasks),
        }
        if self.app is not None:
            env |= {APP_ENV: self.app.import_string, APP_DIR_ENV: self.app.directory or ""}
        # Popen runs on the event loop's thread on purpose: PR_SET_PDEATHSIG fires when the
        # *thread* that forked the child exits, and this one lives as long as the app.
        self._proc = subprocess.Popen(
            [
                *sandbox.unshare,
                sys.executable,
                "-m",
                "app.sandbox.child.launcher",
                *sandbox.drop,
                sys.executable,
                "-m",
                "app.sandbox.child.runner",
            ],
            env=env,
            pass_fds=(self._listener.fileno(),),
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=str(ROOT),
        )
        self._listener.set_inheritable(False)
        reader = threading.Thread(target=self._read_output, daemon=True, name="target-output")
        reader.start()
        threading.Thread(target=self._wait_exit, args=(loop,), daemon=True, name="target-wait").start()
        try:
            await asyncio.wait_for(self._until_ready(), timeout)
        except TimeoutError:
            await self.stop()
            raise TargetError(self._report(f"did not become ready within {timeout:g} s")) from None
        finally:
            self._close_listener()
        if self.status.state != "ready":
            # The reason is in the last lines the target wrote: wait for them.
            await asyncio.to_thread(reader.join, 2.0)
            # The user's app that cannot be imported says so in one line: that is the reason.
            cannot_load = next((line for line in self.output_tail if line.startswith(LOAD_FAILED)), None)
            if cannot_load is not None:
                raise TargetError(f"target failed to start: {cannot_load.removeprefix('connscope: ')}")
            raise TargetError(self._report(f"failed to start ({self.status.describe_exit()})"))
        self._read_back_sandbox(sandbox)

    def _read_back_sandbox(self, sandbox: Plan) -> None:
        assert self._proc is not None
        self.status.pid = applied.runner_pid(self._proc.pid)
        if self.status.pid is None:
            return
        in_force = applied.read(self.status.pid)
        self.status.sandbox = in_force.as_json()
        self.status.isolation = "; ".join([in_force.describe(), *sandbox.notes])
        if self.network is not None:
            knobs = ", ".join(f"{k}={v}" for k, v in self.network.sysctls.items())
            self.status.isolation += f"; sockets in a private network namespace with {knobs}"

    async def _until_ready(self) -> None:
        """Ready = every worker ran its startup and a probe connection left the accept queue,
        i.e. a uvicorn process really took it. A target that exits meanwhile is not ready."""
        while self.settings.instrument and len(self._workers_ready) < self.settings.workers:
            if self._exited.is_set():
                return
            await asyncio.sleep(0.01)
        with self._network():
            probe = socket.socket()
        probe.setblocking(False)
        try:
            try:
                await asyncio.get_running_loop().sock_connect(probe, ("127.0.0.1", self.port))
            except OSError:
                if self._exited.is_set():
                    return
                raise
            # The listener closes when the target exits, which can happen at any await.
            while not self._exited.is_set() and self._listener is not None:
                if read_accept_queue(self._listener).length == 0:
                    self.status.state = "ready"
                    return
                await asyncio.sleep(0.01)
        finally:
            probe.close()

    def _network(self) -> contextlib.AbstractContextManager[None]:
        return self.network.entered() if self.network is not None else contextlib.nullcontext()

    async def stop(self) -> None:
        """SIGTERM to the target's process group, SIGKILL after a grace period. Stopping
        twice is harmless: the group is signalled only by the first stop."""
        if self._stopping:
            return
        self._stopping = True
        if self._proc is not None and self._proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._exited.wait(), STOP_GRACE_S)
            except TimeoutError:
                self._signal_group(signal.SIGKILL)
                await self._exited.wait()
        # Workers left behind by a killed supervisor share its process group.
        self._signal_group(signal.SIGKILL)
        self._close_listener()
        if self._event_server is not None:
            self._event_server.close()
            self._event_server = None
        self._tmp.cleanup()
        if self.status.state in ("starting", "ready"):
            self.status.state = "stopped"

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _read_output(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            self._tail.append(raw.decode(errors="replace").rstrip("\n"))
        self._proc.stdout.close()

    def _wait_exit(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._proc is not None
        code = self._proc.wait()
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._on_exit, code)

    def _on_exit(self, code: int) -> None:
        self._close_listener()
        self.status.exit_status = code
        self.status.output_tail = self.output_tail
        if self._stopping:
            self.status.state = "stopped"
        elif code == 0:
            self.status.state = "exited"
        else:
            self.status.state = "crashed"
        self._exited.set()

    def _deliver(self, records: memoryview, pid: int) -> None:
        on_event = self.on_event
        for event in witness_protocol.decode(records, pid):
            if event.kind == "ready":
                self._workers_ready.add(event.pid)
            else:
                on_event(event)

    def _own_peer(self, sock: socket.socket) -> int | None:
        """The pid of the process at the other end of an events connection (as this
        process's pid namespace numbers it: the one `ps` shows), if it is this target's.
        The events socket is reachable by every process of the sandbox's uid, other targets
        included: only this target's own processes may report to it."""
        peer = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEERCRED.size)
        pid: int = PEERCRED.unpack(peer)[0]
        if self._proc is None:
            return None
        try:
            own = psutil.Process(self._proc.pid)
            if pid == own.pid or any(child.pid == pid for child in own.children(recursive=True)):
                return pid
        except psutil.Error:
            pass
        return None

    def _report(self, what: str) -> str:
        tail = "\n".join(self.output_tail[-20:]) or "(no output)"
        s = self.settings
        limits = f"memory {s.memory_limit_mb} MiB, CPU {s.cpu_limit_s} s, {s.open_files} open files"
        return f"target {what}; limits: {limits}\n--- last output ---\n{tail}"
