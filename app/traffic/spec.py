"""What a burst is: how many connections, when they arrive, what each one does."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class BurstSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connections: int = Field(100, ge=1, le=20_000, description="How many client connections to open.")
    pattern: Literal["burst", "ramp", "rate"] = Field(
        "burst",
        description="burst: all at once; ramp: spread evenly over ramp_s; rate: `rate` new connections per second.",
    )
    ramp_s: float = Field(1.0, gt=0, le=3600, description="Seconds over which a ramp spreads its connections.")
    rate: float = Field(100.0, gt=0, le=100_000, description="New connections per second for the rate pattern.")
    requests_per_connection: int = Field(
        1,
        ge=1,
        le=10_000,
        description="Requests sent one after another on each connection (keep-alive when > 1).",
    )
    pause_ms: float = Field(
        0.0,
        ge=0,
        le=600_000,
        description="Idle time between requests on one connection (an idle keep-alive).",
    )
    client_timeout_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="Each request's time limit, from its intended start, connect included.",
    )
    path: str = Field("/", pattern=r"^/[!-~]*$", max_length=2000, description="Request path.")

    def offsets_ns(self) -> list[int]:
        """When each connection is due, from the burst's start: an open model, fixed up front."""
        n = self.connections
        if self.pattern == "ramp":
            step = self.ramp_s / (n - 1) if n > 1 else 0.0
            return [round(i * step * 1e9) for i in range(n)]
        if self.pattern == "rate":
            return [round(i / self.rate * 1e9) for i in range(n)]
        return [0] * n

    @property
    def duration_s(self) -> float:
        """How long arrivals last (not counting the requests themselves)."""
        if self.pattern == "ramp" and self.connections > 1:
            return self.ramp_s
        if self.pattern == "rate":
            return (self.connections - 1) / self.rate
        return 0.0
