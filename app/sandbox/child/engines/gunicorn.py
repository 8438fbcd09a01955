"""gunicorn's arbiter on the inherited socket (`fd://N`), uvicorn-worker's UvicornWorker in
each worker, given uvicorn's settings (limit_concurrency has no gunicorn flag) and the
instrumented protocols through a subclass's CONFIG_KWARGS."""

from __future__ import annotations

import os
from typing import Any

from gunicorn.app.base import BaseApplication
from uvicorn.importer import import_from_string
from uvicorn_worker import UvicornWorker

from app.sandbox.child import userapp
from app.sandbox.child.witness import PROTOCOLS
from app.sandbox.child.workload import WORKER_ENV
from app.sandbox.settings import TargetSettings

GUNICORN_DEFAULT_TIMEOUT_S = 30


def worker_class(settings: TargetSettings) -> type[UvicornWorker]:
    return type(
        "ConnscopeUvicornWorker",
        (UvicornWorker,),
        {
            "CONFIG_KWARGS": {
                "loop": settings.loop,
                "http": PROTOCOLS[settings.http] if settings.instrument else settings.http,
                "limit_concurrency": settings.limit_concurrency,
                # uvicorn-worker would take gunicorn's keepalive (2 s); the setting is uvicorn's.
                "timeout_keep_alive": settings.timeout_keep_alive,
                "lifespan": userapp.lifespan(),
                "ws": "none",
                "access_log": False,
            }
        },
    )


class Application(BaseApplication):  # type: ignore[misc]  # gunicorn is untyped
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.factory = userapp.factory()
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> object:
        # Called in each worker after the fork (no preload): the factory arms the worker.
        return import_from_string(self.factory)()


def _post_fork(server: Any, worker: Any) -> None:
    # The worker's age is its number in the order the arbiter started workers: what the
    # workload seeds its draws with (multiprocessing numbers no forked worker).
    os.environ[WORKER_ENV] = str(worker.age)


def run(settings: TargetSettings, fd: int) -> None:
    Application(
        {
            "bind": [f"fd://{fd}"],
            "workers": settings.workers,
            "backlog": settings.backlog,
            "max_requests": settings.max_requests or 0,
            "timeout": settings.gunicorn_timeout or GUNICORN_DEFAULT_TIMEOUT_S,
            "graceful_timeout": settings.graceful_timeout
            if settings.graceful_timeout is not None
            else GUNICORN_DEFAULT_TIMEOUT_S,
            "worker_class": worker_class(settings),
            "loglevel": "warning",
            "accesslog": None,
            "post_fork": _post_fork,
        }
    ).run()
