"""Hypercorn on the inherited listening socket (`fd://N`), in worker processes it restarts
(after `max_requests`)."""

from __future__ import annotations

import sys

from hypercorn.config import Config
from hypercorn.run import run as run_hypercorn

from app.sandbox.child import userapp
from app.sandbox.settings import TargetSettings


def run(settings: TargetSettings, fd: int) -> None:
    config = Config()
    config.bind = [f"fd://{fd}"]
    # Hypercorn evaluates what follows the module: calling the factory in each worker.
    config.application_path = f"asgi:{userapp.factory()}()"
    # At least one worker process, so a worker that reaches max_requests is replaced.
    config.workers = settings.workers
    config.worker_class = settings.loop
    config.backlog = settings.backlog
    if settings.keep_alive_timeout is not None:
        config.keep_alive_timeout = settings.keep_alive_timeout
    config.max_requests = settings.max_requests
    config.loglevel = "WARNING"
    config.accesslog = None
    sys.exit(run_hypercorn(config))
