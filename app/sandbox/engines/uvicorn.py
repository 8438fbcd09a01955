"""uvicorn on its own: the reference engine, with its 503 gate (`limit_concurrency`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.sandbox.engines.base import Engine, Setting


def _witnesses(values: Mapping[str, Any]) -> str:
    if values.get("loop") == "uvloop":
        # uvloop accepts in C: only the kernel's sightings and connection_made bound `queued`.
        accept = "no accept() (uvloop accepts in C: queued ends at the kernel's last sighting)"
    else:
        every = ", in every worker" if values.get("workers", 1) > 1 else ""
        accept = f"accept() (asyncio loop{every})"
    return f"kernel, {accept}, uvicorn's protocol (accepted/closed), app (active)"


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
    gate=("limit_concurrency", "limit"),
    witnesses="kernel, accept() (asyncio loop), uvicorn's protocol (accepted/closed), app (active)",
    witnesses_for=_witnesses,
)
