"""The user's own ASGI app, served in the target instead of the workload and instrumented
the same way. The import string and its directory come from the operator (`--app`,
`--app-dir`), through the environment the control app gives the target; never from a browser.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Literal

from app.sandbox.child.channel import watch_for_a_blocked_loop
from app.sandbox.child.containment import arm_worker
from app.sandbox.child.fsview import APP_DIR_ENV
from app.sandbox.child.witness import AppWitness
from app.sandbox.child.workload import APP_FACTORY
from app.sandbox.settings import TargetSettings
from app.witness_protocol import APP_HEADER

APP_ENV = "CONNSCOPE_APP"
LOAD_FAILED = "connscope: the app "
"""How the one line that says why the user's app cannot be loaded begins: the control app
reports that line as the reason the target failed to start."""
LOAD_FAILURE_STATUS = 3
UNAVAILABLE = 503

ASGIApp = Any


def factory() -> str:
    """The factory every engine's workers call: the user's app, or the workload. The user's
    app is imported here first, in the runner, so a bad import string fails the start once,
    with one line, rather than in every worker the server would keep restarting."""
    if not os.environ.get(APP_ENV):
        return APP_FACTORY
    _load()
    return "app.sandbox.child.userapp:create_app"


def lifespan() -> Literal["on", "auto"]:
    """The workload speaks the lifespan protocol (its witness reports `ready` there); an app
    that does not is still served."""
    return "auto" if os.environ.get(APP_ENV) else "on"


def _load() -> ASGIApp:
    from uvicorn.importer import import_from_string

    target = os.environ[APP_ENV]
    directory = os.environ.get(APP_DIR_ENV)
    if directory and directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        return import_from_string(target)
    except Exception as exc:
        # Without --app-dir only installed packages can be imported: say so, since a module
        # beside the user is what they will have expected (uvicorn looks in its own directory).
        where = f" (from {directory})" if directory else " (no --app-dir: from installed packages only)"
        print(
            f"{LOAD_FAILED}{target}{where} cannot be loaded: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True
        )
        raise SystemExit(LOAD_FAILURE_STATUS) from None


class Marked:
    """Adds `x-connscope-app: 1` to the app's 503 responses, so the client tells the app's
    own 503 from uvicorn's admission-control 503. Only those: the header is read nowhere
    else, and copying every response's headers cost a fast app a few percent of its pace."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def marked_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message.get("status") == UNAVAILABLE:
                headers = [*message.get("headers", []), (APP_HEADER.encode(), b"1")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, marked_send)


def create_app() -> ASGIApp:
    """uvicorn factory (`app.sandbox.child.userapp:create_app`), called in every worker."""
    arm_worker()
    settings = TargetSettings.from_env()
    app = _load()
    if not settings.instrument:
        return app
    # Any handler of it may hold the loop, and none will say so.
    watch_for_a_blocked_loop()
    return AppWitness(Marked(app))
