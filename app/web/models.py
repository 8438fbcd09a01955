"""The JSON API's response shapes besides the run result itself (app/result.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.comparison import DiffRow, SettingDiff, SettingRow
from app.result import Connection, RunResult
from app.sandbox.settings import TargetSettings
from app.sandbox.target import TargetState
from app.traffic.spec import BurstSpec, Pattern


class BurstProgress(BaseModel):
    """A burst's status; `done` once its result is final and recorded."""

    id: int
    planned: int
    finished: int = Field(description="Connections that have ended.")
    done: bool
    run_id: int | None = Field(description="Its recorded run once done (null: the store could not take it).")
    pattern: Pattern
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
    pattern: Pattern
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
    server_version: str = Field("", description="The server engine's distributions and versions.")
    witnesses: str = Field("", description="What the server witness sees inside this engine.")
    worker_pids: list[int] = Field(
        default_factory=list,
        description="Its server processes, by the pids the host gives them (what `ps` shows); each has its own slots.",
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


class CompareRequest(BaseModel):
    """Two target settings and one burst: each target gets the same burst (same schedule)."""

    model_config = ConfigDict(extra="forbid")

    a: TargetSettings
    b: TargetSettings
    burst: BurstSpec = Field(default_factory=BurstSpec)
    concurrent: bool = Field(
        False, description="Fire both at the same time (they share the CPU); default: one after the other."
    )


class ComparisonView(BaseModel):
    """A comparison started from the dashboard or the API, while it runs and once done."""

    id: int
    state: Literal["starting", "running", "done", "failed", "interrupted"]
    mode: Literal["sequential", "concurrent"]
    mode_label: str
    error: str | None
    burst: BurstSpec
    a: TargetView
    b: TargetView
    run_a: int | None = Field(description="A's recorded run, once done.")
    run_b: int | None
    record_id: int | None = Field(description="The recorded comparison, once both runs are recorded.")
    finding: str | None
    superseded: list[Superseded] = Field(description="Bursts of the target before it that its start cut short.")


class ComparisonReport(BaseModel):
    """Two recorded runs side by side: settings diff, the table with the better side marked,
    the finding. `id` is null for two runs picked on the runs page."""

    id: int | None
    recorded_at: str | None
    mode: Literal["sequential", "concurrent"] | None
    mode_label: str | None
    run_a: int
    run_b: int
    settings: list[SettingRow] = Field(description="Each side's own server's settings and the workload's.")
    settings_diff: list[SettingDiff]
    burst_diff: list[SettingDiff]
    diff: list[DiffRow]
    finding: str


class ComparisonListing(BaseModel):
    id: int
    recorded_at: str
    run_a: int
    run_b: int
    mode: str
    summary: str
