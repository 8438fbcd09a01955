"""The target process: arms its sandbox, then runs uvicorn on the inherited listening socket.

Started by `app.sandbox.child.launcher` behind `setpriv` (privileges already dropped), inside
the target's namespaces when the machine allows them.
"""

from __future__ import annotations

import os
import socket
import sys

from app.sandbox.child.containment import PARENT_ENV, SUPERVISOR_ENV, apply_limits, die_with_parent, no_new_privs
from app.sandbox.settings import TargetSettings

FD_ENV = "CONNSCOPE_FD"


def main() -> None:
    settings = TargetSettings.from_env()
    die_with_parent(int(os.environ[PARENT_ENV]))
    no_new_privs()
    apply_limits(settings)
    os.environ[SUPERVISOR_ENV] = str(os.getpid())

    import uvicorn
    from uvicorn.server import STARTUP_FAILURE  # type: ignore[attr-defined]  # public in use, not in __all__
    from uvicorn.supervisors import Multiprocess

    from app.sandbox.child.witness import PROTOCOLS, WitnessedListener

    config = uvicorn.Config(
        "app.sandbox.child.workload:create_app",
        factory=True,
        backlog=settings.backlog,
        limit_concurrency=settings.limit_concurrency,
        limit_max_requests=settings.limit_max_requests,
        # uvicorn's CLI takes whole seconds, but it schedules the timeout as a float delay;
        # fractions make short demos possible.
        timeout_keep_alive=settings.timeout_keep_alive,  # type: ignore[arg-type]
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
    # With workers > 1 each worker gets the socket pickled; WitnessedListener travels as itself.
    sock = (WitnessedListener if settings.instrument else socket.socket)(fileno=int(os.environ[FD_ENV]))
    server = uvicorn.Server(config)
    if settings.workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        server.run(sockets=[sock])
        if not server.started:
            sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
