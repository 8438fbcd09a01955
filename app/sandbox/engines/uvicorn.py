"""uvicorn on its own: the reference engine, with its 503 gate (`limit_concurrency`)."""

from __future__ import annotations

from app.sandbox.engines.base import Engine

UVICORN = Engine(
    name="uvicorn",
    title="uvicorn",
    distributions=("uvicorn",),
    settings_fields=(
        "limit_concurrency",
        "backlog",
        "timeout_keep_alive",
        "limit_max_requests",
        "workers",
        "http",
        "loop",
    ),
    witnesses="kernel, accept() (asyncio loop, one worker), uvicorn's protocol (accepted/closed), app (active)",
    instead={
        "max_requests": "has limit_max_requests instead",
        "keep_alive_timeout": "has timeout_keep_alive instead",
        "backpressure": "has limit_concurrency instead (it answers 503, it does not make requests wait)",
    },
)
