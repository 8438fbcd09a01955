"""Hypercorn: asyncio (or uvloop) workers with no 503 gate."""

from __future__ import annotations

from app.sandbox.engines.base import Engine

HYPERCORN = Engine(
    name="hypercorn",
    title="Hypercorn",
    distributions=("hypercorn",),
    settings_fields=("backlog", "workers", "keep_alive_timeout", "max_requests", "loop"),
    witnesses="kernel, app (active); no accept/close hooks in Hypercorn",
    instead={
        "limit_concurrency": "has no 503 gate: it never rejects a request for load",
        "timeout_keep_alive": "has keep_alive_timeout instead",
        "limit_max_requests": "has max_requests instead (the worker is restarted, the socket stays open)",
        "http": "parses HTTP with h11 itself",
    },
)
