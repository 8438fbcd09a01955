"""uvicorn on the inherited listening socket, with the instrumented protocols."""

from __future__ import annotations

import socket
import sys

import uvicorn
from uvicorn.server import STARTUP_FAILURE  # type: ignore[attr-defined]  # public in use, not in __all__
from uvicorn.supervisors import Multiprocess

from app.sandbox.child import userapp
from app.sandbox.child.witness import PROTOCOLS, WitnessedListener
from app.sandbox.settings import TargetSettings


def run(settings: TargetSettings, fd: int) -> None:
    config = uvicorn.Config(
        userapp.factory(),
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
        lifespan=userapp.lifespan(),
        ws="none",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    # The socket object owns the inherited descriptor (no dup, unlike uvicorn's `fd`
    # setting), so when uvicorn closes its server the listening socket really closes and
    # later connections are refused, as with `uvicorn --port`.
    # With workers > 1 each worker gets the socket pickled; WitnessedListener travels as itself.
    sock = (WitnessedListener if settings.instrument else socket.socket)(fileno=fd)
    server = uvicorn.Server(config)
    if settings.workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        server.run(sockets=[sock])
        if not server.started:
            sys.exit(STARTUP_FAILURE)
