"""Hypercorn: asyncio (or uvloop) workers with no 503 gate."""

from __future__ import annotations

from app.sandbox.engines.base import Engine, Setting

HYPERCORN = Engine(
    name="hypercorn",
    title="Hypercorn",
    distributions=("hypercorn",),
    settings=(
        Setting("backlog"),
        Setting("workers"),
        Setting("keep_alive_timeout", unset="5 s"),
        Setting("max_requests"),
        Setting("loop"),
        Setting("limit_concurrency", instead="has no 503 gate: it never rejects a request for load"),
        Setting("timeout_keep_alive", instead="has keep_alive_timeout instead"),
        Setting(
            "limit_max_requests", instead="has max_requests instead (the worker is restarted, the socket stays open)"
        ),
        Setting("http", instead="parses HTTP with h11 itself"),
    ),
    gate=None,
    witnesses="kernel, app (active); no accept/close hooks in Hypercorn",
)
