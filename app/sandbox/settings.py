"""A target's settings: uvicorn's knobs under uvicorn's names, the workload, the sandbox limits."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SETTINGS_ENV = "CONNSCOPE_TARGET"


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
    workers: int = Field(1, ge=1, le=8, description="uvicorn worker processes sharing the listening socket.")
    http: Literal["h11", "httptools"] = Field("httptools", description="uvicorn's HTTP/1.1 implementation.")
    loop: Literal["asyncio", "uvloop"] = Field("uvloop", description="The target's event loop.")
    handler: Literal["async", "blocking", "cpu", "sync"] = Field(
        "async",
        description=(
            "async awaits; blocking sleeps on the event loop; cpu burns CPU; sync is a def endpoint in the thread pool."
        ),
    )
    handler_ms: float = Field(100.0, ge=0, le=600_000, description="How long the handler holds a request, in ms.")
    latency: Literal["fixed", "uniform", "exponential"] = Field(
        "fixed",
        description="Distribution of the hold time around handler_ms.",
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
