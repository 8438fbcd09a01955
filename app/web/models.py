"""The JSON API's response shapes besides the run result itself (app/result.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.result import Connection, RunResult
from app.sandbox.settings import TargetSettings
from app.sandbox.target import TargetState


class BurstProgress(BaseModel):
    """A burst's status; `done` once its result is final and recorded."""

    id: int
    planned: int
    finished: int = Field(description="Connections that have ended.")
    done: bool
    run_id: int | None = Field(description="Its recorded run once done (null: the store could not take it).")
    pattern: Literal["burst", "ramp", "rate"]
    started_ms: float | None = Field(
        description="When the burst's clock started, on the live stream's clock (ms from the target's start)."
    )


class BurstView(BurstProgress):
    finding: str | None
    cancelled: str | None


class BurstRun(RunResult):
    """A finished burst: its status merged with its recorded result (`burst` is its spec)."""

    id: int
    planned: int
    finished: int
    done: Literal[True]
    pattern: Literal["burst", "ramp", "rate"]
    started_ms: float | None


class Superseded(BaseModel):
    target: int
    burst: int
    run_id: int | None
    cancelled: str | None


class TargetView(BaseModel):
    id: int
    state: TargetState | Literal["stopping"]
    port: int
    pid: int | None
    exit: str
    isolation: str
    sandbox: dict[str, object] | None = Field(description="What /proc says of the running target.")
    error: str | None
    output_tail: list[str] = Field(description="The last lines of its output, when it crashed.")
    settings: TargetSettings
    capacity: int | None = Field(description="The accept queue's capacity the kernel reported.")
    bursts: list[BurstView]
    superseded: list[Superseded] = Field(description="Bursts of the target before this one that its start cut short.")
    worker_pids: list[int] = Field(
        default_factory=list, description="Its uvicorn processes (pids in its namespace); each has its own slots."
    )


class StartRefused(BaseModel):
    detail: str
    target: TargetView


class BurstAccepted(BaseModel):
    id: int
    connections: int
    result: str = Field(description="Where to poll for its progress and result.")


class ConnectionNow(Connection):
    """One connection now, times from its burst's start as in the result."""

    now_ms: float = Field(description="Now, on the same clock: how long an open connection has been in its state.")
    origin_ms: float = Field(description="Its burst's start on the live stream's clock.")


class RunListing(BaseModel):
    id: int
    recorded_at: str
    scenario: str | None
    summary: str
    version: int = Field(description="The result's schema version.")
    workers: int | None = None
    pattern: str | None = None
    rate: float | None = None
    ramp_s: float | None = None


class Deleted(BaseModel):
    deleted: int
