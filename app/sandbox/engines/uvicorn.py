"""uvicorn on its own: the reference engine, with its 503 gate (`limit_concurrency`)."""

from __future__ import annotations

from app.sandbox.engines.base import Engine, Setting

UVICORN = Engine(
    name="uvicorn",
    title="uvicorn",
    distributions=("uvicorn",),
    settings=(
        Setting("limit_concurrency"),
        Setting("backlog"),
        Setting("timeout_keep_alive"),
        Setting("limit_max_requests"),
        Setting("workers"),
        Setting("http"),
        Setting("loop"),
        Setting("max_requests", instead="has limit_max_requests instead"),
        Setting("keep_alive_timeout", instead="has timeout_keep_alive instead"),
        Setting(
            "backpressure", instead="has limit_concurrency instead (it answers 503, it does not make requests wait)"
        ),
    ),
    witnesses="kernel, accept() (asyncio loop, one worker), uvicorn's protocol (accepted/closed), app (active)",
)
