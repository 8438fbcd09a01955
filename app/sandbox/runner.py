"""The target process: arms its sandbox, then runs uvicorn on the inherited listening socket.

Started by `app.sandbox.target.Target` as `python -m app.sandbox.runner`, inside an empty
network namespace when the machine allows it.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import socket
import sys
import threading

from app.sandbox.settings import TargetSettings

PARENT_ENV = "CONNSCOPE_PARENT"
FD_ENV = "CONNSCOPE_FD"
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


def main() -> None:
    settings = TargetSettings.from_env()
    die_with_parent(int(os.environ[PARENT_ENV]))
    apply_limits(settings)

    import uvicorn
    from uvicorn.server import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    from app.sandbox.witness import PROTOCOLS

    config = uvicorn.Config(
        "app.sandbox.workload:create_app",
        factory=True,
        backlog=settings.backlog,
        limit_concurrency=settings.limit_concurrency,
        limit_max_requests=settings.limit_max_requests,
        timeout_keep_alive=settings.timeout_keep_alive,
        workers=settings.workers,
        http=PROTOCOLS[settings.http] if settings.instrument else settings.http,
        loop=settings.loop,
        lifespan="on",
        ws="none",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    # The socket object owns the inherited descriptor (no dup, unlike uvicorn's `fd`
    # setting), so when uvicorn closes its server the listening socket really closes and
    # later connections are refused, as with `uvicorn --port`.
    sock = socket.socket(fileno=int(os.environ[FD_ENV]))
    server = uvicorn.Server(config)
    if settings.workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        server.run(sockets=[sock])
        if not server.started:
            sys.exit(STARTUP_FAILURE)

if __name__ == "__main__":
    main()
