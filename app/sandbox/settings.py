"""A target's settings: the server engine's knobs under its own names, the workload, the sandbox limits."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from app.sandbox.engines import refusals
from app.weights import parse_weights

SETTINGS_ENV = "CONNSCOPE_TARGET"
EXPLICIT = "explicit"
"""The validation context's key for the fields the user gave by name (refused for an engine
that does not take them, even at their default)."""
Handler = Literal["async", "blocking", "cpu", "sync"]
HANDLERS: tuple[str, ...] = ("async", "blocking", "cpu", "sync")


class TargetSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit_concurrency: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="uvicorn answers 503 once this many connections or tasks exist, per worker: "
        "each worker process counts its own (not given: no limit).",
    )
    backlog: int = Field(
        2048,
        ge=1,
        le=65_535,
        description="Length of the kernel accept queue passed to listen(); capped by net.core.somaxconn.",
    )
    timeout_keep_alive: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="Seconds uvicorn keeps an idle keep-alive connection open.",
    )
    limit_max_requests: int | None = Field(
        None,
        ge=1,
        le=10_000_000,
        description="uvicorn exits after this many requests (per worker); later connections are refused "
        "(not given: never).",
    )
    workers: int = Field(1, ge=1, le=8, description="Worker processes sharing the listening socket.")
    http: Literal["h11", "httptools"] = Field("httptools", description="uvicorn's HTTP/1.1 implementation.")
    loop: Literal["asyncio", "uvloop"] = Field("uvloop", description="The target's event loop.")
    handler: Handler = Field(
        "async",
        description=(
            "async awaits; blocking sleeps on the event loop; cpu burns CPU; sync is a def endpoint in the thread pool."
        ),
    )
    handler_ms: float = Field(100.0, ge=0, le=600_000, description="How long the handler holds a request, in ms.")
    latency: Literal["fixed", "uniform", "exponential", "lognormal"] = Field(
        "fixed",
        description="Distribution of the hold time around handler_ms (lognormal: handler_ms is its p50, "
        "handler_p99_ms its p99).",
    )
    response_bytes: int = Field(2, ge=0, le=1 << 30, description="Size of the response body.")
    memory_limit_mb: int = Field(1024, ge=32, le=16_384, description="Address-space cap per target process.")
    cpu_limit_s: int = Field(600, ge=1, le=86_400, description="CPU seconds a target process may use.")
    open_files: int = Field(8192, ge=64, le=20_000, description="File descriptors per target process.")
    instrument: bool = Field(True, description="Report accepted/active/closed from inside uvicorn.")
    somaxconn: int | None = Field(
        None,
        ge=1,
        le=65_535,
        json_schema_extra={"empty": "host's"},
        description="net.core.somaxconn, the cap on backlog, in a private network namespace (empty: the host's).",
    )
    tcp_abort_on_overflow: bool | None = Field(
        None,
        json_schema_extra={"empty": "host's"},
        description="net.ipv4.tcp_abort_on_overflow in a private network namespace: reset instead of dropping "
        "a handshake the full accept queue cannot take (empty: the host's).",
    )
    tcp_syncookies: int | None = Field(
        None,
        ge=0,
        le=2,
        json_schema_extra={"empty": "host's"},
        description="net.ipv4.tcp_syncookies in a private network namespace: 1 answers SYNs with cookies when "
        "the SYN queue overflows (empty: the host's).",
    )

    server: Literal["uvicorn", "gunicorn", "granian", "hypercorn"] = Field(
        "uvicorn",
        description="The server that runs the app; each takes only its own settings, under its own names.",
    )
    max_requests: int | None = Field(
        None,
        ge=1,
        le=10_000_000,
        description="gunicorn, Hypercorn: a worker is restarted after this many requests; the socket stays "
        "open (not given: never).",
    )
    gunicorn_timeout: int | None = Field(
        None,
        ge=1,
        le=3600,
        json_schema_extra={"empty": "30 s"},
        description="gunicorn's timeout: a worker silent this many seconds (whole) is killed and restarted "
        "(empty: gunicorn's 30 s).",
    )
    graceful_timeout: int | None = Field(
        None,
        ge=0,
        le=3600,
        json_schema_extra={"empty": "30 s"},
        description="gunicorn: whole seconds a worker has to finish its requests when restarted or stopped "
        "(empty: gunicorn's 30 s).",
    )
    backpressure: int | None = Field(
        None,
        ge=1,
        le=100_000,
        json_schema_extra={"empty": "backlog/workers"},
        description="Granian: requests one worker runs at once, per worker; more wait, none get 503 "
        "(empty: backlog / workers).",
    )
    http1_keep_alive: bool | None = Field(
        None,
        json_schema_extra={"empty": "Granian's default, on"},
        description="Granian: keep HTTP/1.1 connections open between requests (empty: Granian's default, on).",
    )
    keep_alive_timeout: float | None = Field(
        None,
        ge=0,
        le=3600,
        json_schema_extra={"empty": "5 s"},
        description="Hypercorn: seconds an idle keep-alive connection stays open (empty: Hypercorn's 5 s).",
    )

    @model_validator(mode="after")
    def _engine_takes_them(self, info: ValidationInfo) -> TargetSettings:
        defaults = {name: field.default for name, field in type(self).model_fields.items()}
        # Only a caller that knows what the user typed (the CLI's flags) names them: the form,
        # a stored run or a target's settings posted back give every field, another engine's
        # at its default.
        explicit = (info.context or {}).get(EXPLICIT, ())
        for name, message in refusals(self.model_dump(), defaults, explicit).items():
            # A model-level error has no location: the field rides in ctx, for the form and the CLI.
            raise PydanticCustomError("engine_setting", message, {"field": name})
        return self

    handler_p99_ms: float | None = Field(
        None,
        ge=0,
        le=600_000,
        validate_default=True,
        json_schema_extra={"empty": "none"},
        description="The hold time's p99 in ms for the lognormal latency (handler_ms is its p50).",
    )
    handler_mix: str | None = Field(
        None,
        max_length=200,
        json_schema_extra={"empty": "handler"},
        description='Handler kinds with weights, e.g. "async:90,blocking:10": each request runs one, drawn '
        "by weight (empty: `handler` for all).",
    )
    handler_seed: int | None = Field(
        None,
        ge=0,
        le=2**63 - 1,
        json_schema_extra={"empty": "a new one"},
        description="Seed of the workload's random draws (hold times, handler mix): one reproducible sequence "
        "per worker, the first worker's the seed's own (empty: a new one).",
    )
    app: str | None = Field(
        None,
        max_length=300,
        json_schema_extra={"empty": "the workload"},
        description="Serve this app instead of the workload: one the operator listed with --app when starting "
        "connscope.",
    )

    @field_validator("handler_p99_ms")
    @classmethod
    def _p99_for_lognormal(cls, value: float | None, info: ValidationInfo) -> float | None:
        if info.data.get("latency") != "lognormal":
            return value
        p50 = info.data.get("handler_ms")
        if value is None:
            raise ValueError("Required for the lognormal latency: the hold time's p99 in ms.")
        if p50 is not None and p50 <= 0:
            raise ValueError("The lognormal latency needs handler_ms (its p50) above 0.")
        if p50 is not None and value < p50:
            raise ValueError(f"Must be at least handler_ms ({p50:g}), the p50.")
        return value

    @field_validator("handler_mix")
    @classmethod
    def _handler_mix(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parse_weights(value, HANDLERS)
        return value.strip()

    @property
    def handler_weights(self) -> list[tuple[str, int]]:
        """Each handler kind a request may run, with its weight."""
        return parse_weights(self.handler_mix, HANDLERS) if self.handler_mix else [(self.handler, 1)]

    @property
    def sysctls(self) -> dict[str, str]:
        """Kernel knobs this experiment sets in a network namespace of its own."""
        knobs: dict[str, str] = {}
        if self.somaxconn is not None:
            knobs["net.core.somaxconn"] = str(self.somaxconn)
        if self.tcp_abort_on_overflow is not None:
            knobs["net.ipv4.tcp_abort_on_overflow"] = str(int(self.tcp_abort_on_overflow))
        if self.tcp_syncookies is not None:
            knobs["net.ipv4.tcp_syncookies"] = str(self.tcp_syncookies)
        return knobs

    def to_env(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_env(cls) -> TargetSettings:
        return cls.model_validate_json(os.environ[SETTINGS_ENV])
