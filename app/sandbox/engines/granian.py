"""Granian (Rust HTTP, Python app): excess requests wait for `backpressure`, none get 503."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.sandbox.engines.base import Engine, Setting

MIN_BACKLOG = 128
"""Granian's own floor: `--backlog` below it is refused by Granian's CLI."""


@dataclass(frozen=True, slots=True)
class Granian(Engine):
    def gate_value(self, values: Mapping[str, Any]) -> int | None:
        """An empty backpressure is backlog / workers, as Granian takes it."""
        if values.get("backpressure") is None:
            return max(1, int(values.get("backlog", 1)) // max(1, int(values.get("workers") or 1)))
        return int(values["backpressure"])

    def validate(self, values: Mapping[str, Any]) -> dict[str, str]:
        if values["backlog"] < MIN_BACKLOG:
            return {"backlog": f"Granian refuses a backlog below {MIN_BACKLOG}; give at least {MIN_BACKLOG}."}
        return {}


GRANIAN = Granian(
    name="granian",
    title="Granian",
    distributions=("granian",),
    settings=(
        Setting("backlog"),
        Setting("backpressure", unset="backlog/workers"),
        Setting("workers"),
        Setting("http1_keep_alive", unset="on"),
        Setting("loop"),
        Setting("limit_concurrency", instead="has backpressure instead (excess requests wait, none get 503)"),
        Setting("timeout_keep_alive", instead="has http1_keep_alive (on/off) instead"),
        Setting("limit_max_requests", instead="restarts no worker after a number of requests"),
        Setting("max_requests", instead="restarts no worker after a number of requests"),
        Setting("http", instead="parses HTTP itself (in Rust)"),
    ),
    gate=("backpressure", "backpressure"),
    witnesses="kernel, app (active); no accept/close hooks in Granian (its HTTP side is Rust)",
)
