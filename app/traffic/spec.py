"""What a burst is: how many connections, when they arrive, what each one does."""

from __future__ import annotations

import math
import random
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from app.weights import apportion, parse_weights

Pattern = Literal["burst", "ramp", "rate", "poisson", "ramp-rate"]
ClientKind = Literal["normal", "slow"]
CLIENT_KINDS: tuple[str, ...] = ("normal", "slow")

# Which fields each pattern reads: the others are not validated for it (a form sends them all).
_PATTERN_FIELDS: dict[str, tuple[str, ...]] = {
    "burst": (),
    "ramp": ("ramp_s",),
    "rate": ("rate",),
    "poisson": ("rate",),
    "ramp-rate": ("rate", "rate_end"),
}


class BurstSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connections: int = Field(100, ge=1, le=20_000, description="How many client connections to open.")
    pattern: Pattern = Field(
        "burst",
        description="burst: all at once; ramp: spread evenly over ramp_s; rate: `rate` new connections per second; "
        "poisson: random arrivals at `rate` per second on average (seeded); ramp-rate: the rate ramps from `rate` "
        "to `rate_end`.",
    )
    ramp_s: float = Field(1.0, gt=0, le=3600, description="Seconds over which a ramp spreads its connections.")
    rate: float = Field(
        100.0, gt=0, le=100_000, description="New connections per second (rate, poisson; where ramp-rate starts)."
    )
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
    rate_end: float | None = Field(
        None,
        gt=0,
        le=100_000,
        validate_default=True,
        json_schema_extra={"empty": "none"},
        description="Where the ramp-rate pattern's rate ends, in new connections per second.",
    )
    seed: int | None = Field(
        None,
        ge=0,
        le=2**63 - 1,
        json_schema_extra={"empty": "a new one"},
        description="Seed of the random choices (poisson arrivals, mix, paths): the same seed, the same schedule. "
        "The run records the one used.",
    )
    method: Literal["GET", "POST"] = Field("GET", description="The requests' HTTP method (POST sends an empty body).")
    paths: str | None = Field(
        None,
        max_length=2000,
        json_schema_extra={"empty": "path"},
        description='Several paths with weights, e.g. "/:80,/api:20"; each request takes one (empty: `path`).',
    )
    mix: str | None = Field(
        None,
        max_length=200,
        json_schema_extra={"empty": "all normal"},
        description='Client kinds with weights, e.g. "normal:90,slow:10"; a slow client dribbles its request '
        "headers over slow_s.",
    )
    slow_s: float = Field(
        1.0, gt=0, le=600, description="Seconds over which a slow client dribbles each request's headers."
    )

    @model_validator(mode="before")
    @classmethod
    def _only_the_patterns_fields(cls, data: Any) -> Any:
        """A pattern's unused fields are dropped (they keep their defaults), so a blank or
        stale `rate` never stops a plain burst."""
        pattern = data.get("pattern", "burst") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(pattern, str) or pattern not in _PATTERN_FIELDS:
            return data
        used = _PATTERN_FIELDS[pattern]
        unused = {name for names in _PATTERN_FIELDS.values() for name in names} - set(used)
        return {k: v for k, v in data.items() if k not in unused}

    @field_validator("rate_end")
    @classmethod
    def _rate_end_for_ramp_rate(cls, value: float | None, info: ValidationInfo) -> float | None:
        if info.data.get("pattern") == "ramp-rate" and value is None:
            raise ValueError("Required for the ramp-rate pattern: the rate it ramps to.")
        return value

    @field_validator("paths")
    @classmethod
    def _weighted_paths(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        for name, _ in parse_weights(value):
            if not re.fullmatch(r"/[!-+\--~]*", name):
                raise ValueError(f"{name!r}: a path starts with / and holds no spaces or commas")
        return value.strip()

    @field_validator("mix")
    @classmethod
    def _client_mix(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parse_weights(value, CLIENT_KINDS)
        return value.strip()

    def seeded(self) -> BurstSpec:
        """This spec with its seed fixed (a new one when none was given): what a run records."""
        if self.seed is not None:
            return self
        return self.model_copy(update={"seed": random.SystemRandom().randrange(2**32)})

    def _rng(self, purpose: str) -> random.Random:
        # One stream per purpose: changing the paths never changes the arrivals.
        return random.Random(f"{self.seed}:{purpose}") if self.seed is not None else random.Random()

    def offsets_ns(self) -> list[int]:
        """When each connection is due, from the burst's start: an open model, fixed up front."""
        n = self.connections
        if self.pattern == "ramp":
            step = self.ramp_s / (n - 1) if n > 1 else 0.0
            return [round(i * step * 1e9) for i in range(n)]
        if self.pattern == "rate":
            return [round(i / self.rate * 1e9) for i in range(n)]
        if self.pattern == "poisson":
            return [round(t * 1e9) for t in self._poisson_times()]
        if self.pattern == "ramp-rate":
            return [round(t * 1e9) for t in self._ramp_rate_times()]
        return [0] * n

    def _poisson_times(self) -> list[float]:
        """The first arrives at the start; the gaps between arrivals are exponential."""
        rng = self._rng("arrivals")
        t, out = 0.0, [0.0]
        for _ in range(self.connections - 1):
            t += rng.expovariate(self.rate)
            out.append(t)
        return out

    def _ramp_rate_times(self) -> list[float]:
        """Arrival i at the time t where the rate, rising (or falling) linearly from `rate`
        to `rate_end` over the span T, has brought i arrivals: r0·t + (r1−r0)·t²/2T = i."""
        n, r0 = self.connections, self.rate
        r1 = self.rate_end if self.rate_end is not None else r0
        span = 2 * (n - 1) / (r0 + r1)
        a = (r1 - r0) / (2 * span) if span else 0.0
        # 2i / (r0 + √(r0² + 4ai)): the quadratic's root without cancellation when a ≈ 0.
        return [2 * i / (r0 + math.sqrt(max(0.0, r0 * r0 + 4 * a * i))) for i in range(n)]

    def client_kinds(self) -> list[str]:
        """Each connection's client kind, split exactly as `mix` weighs them."""
        if self.mix is None:
            return ["normal"] * self.connections
        return apportion(parse_weights(self.mix, CLIENT_KINDS), self.connections, self._rng("mix"))

    def request_paths(self) -> list[list[str]]:
        """Each connection's requests' paths, split exactly as `paths` weighs them."""
        per = self.requests_per_connection
        if self.paths is None:
            return [[self.path] * per for _ in range(self.connections)]
        flat = apportion(parse_weights(self.paths), self.connections * per, self._rng("paths"))
        return [flat[i * per : (i + 1) * per] for i in range(self.connections)]

    @property
    def duration_s(self) -> float:
        """How long arrivals last (not counting the requests themselves); for poisson arrivals
        not yet seeded, the expected span."""
        if self.pattern == "ramp" and self.connections > 1:
            return self.ramp_s
        if self.pattern == "rate" or (self.pattern == "poisson" and self.seed is None):
            return (self.connections - 1) / self.rate
        # In seconds, not from offsets_ns: a tiny rate's span (1e+302 s) is past any cap,
        # and past what nanoseconds can be rounded to.
        if self.pattern == "poisson":
            return self._poisson_times()[-1]
        if self.pattern == "ramp-rate":
            return self._ramp_rate_times()[-1]
        return 0.0
