"""What one request may make the control app do: caps with safe defaults, raised by flag."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field, fields
from typing import Any

from app.errors import CapExceeded
from app.sandbox.settings import TargetSettings
from app.traffic.spec import BurstSpec


def _cap(default: int, flag: str, what: str) -> Any:
    return field(default=default, metadata={"flag": flag, "what": what})


@dataclass(frozen=True, slots=True)
class Limits:
    requests_per_burst: int = _cap(
        5_000, "--max-requests-per-burst", "requests per burst (connections × requests per connection)"
    )
    burst_seconds: int = _cap(
        120,
        "--max-burst-seconds",
        "seconds a burst is scheduled to last (its arrivals, plus pause × requests on a connection)",
    )
    bursts_per_target: int = _cap(4, "--max-bursts-per-target", "bursts running at once on a target")
    targets: int = _cap(
        2,
        "--max-targets",
        "targets starting at once (each start replaces the target before it; further starts wait their turn)",
    )
    target_memory_mb: int = _cap(
        4_096, "--max-target-memory-mb", "MiB of memory a target may hold (workers × memory per worker)"
    )
    response_bytes: int = _cap(16 << 20, "--max-response-bytes", "bytes of one response body")
    request_bytes: int = _cap(64 << 10, "--max-request-bytes", "bytes of one request body sent to the dashboard")
    sweep_runs: int = _cap(64, "--max-sweep-runs", "runs in one sweep (cells × repeats)")
    viewers: int = _cap(100, "--max-viewers", "live views open at once")
    """Each is a WebSocket sent every frame from the loop the bursts run on, and needs no token."""

    def refuse(self, name: str, value: float, field_name: str = "__all__") -> CapExceeded:
        """The refusal of `value` above the cap `name`: it says the cap and the flag that raises it."""
        meta = next(f.metadata for f in fields(self) if f.name == name)
        cap = getattr(self, name)
        message = f"{_number(value)} {meta['what']} is over the cap of {cap}; {meta['flag']} raises it."
        return CapExceeded(name, meta["flag"], field_name, message)

    def check_target(self, settings: TargetSettings) -> None:
        memory = settings.workers * settings.memory_limit_mb
        if memory > self.target_memory_mb:
            raise self.refuse("target_memory_mb", memory, "workers" if settings.workers > 1 else "memory_limit_mb")
        if settings.response_bytes > self.response_bytes:
            raise self.refuse("response_bytes", settings.response_bytes, "response_bytes")

    def check_burst(self, spec: BurstSpec) -> None:
        requests = spec.connections * spec.requests_per_connection
        if requests > self.requests_per_burst:
            field_name = "connections" if spec.requests_per_connection == 1 else "requests_per_connection"
            raise self.refuse("requests_per_burst", requests, field_name)
        pauses_s = spec.pause_ms / 1000 * (spec.requests_per_connection - 1)
        scheduled = spec.duration_s + pauses_s
        if scheduled > self.burst_seconds:
            field_name = "pause_ms" if pauses_s > spec.duration_s else "ramp_s" if spec.pattern == "ramp" else "rate"
            raise self.refuse("burst_seconds", round(scheduled, 3), field_name)

    def check_sweep(self, runs: int) -> None:
        if runs > self.sweep_runs:
            raise self.refuse("sweep_runs", runs)

    def check_sweep_list(self, name: str, values: int) -> None:
        """A list longer than the sweep's runs cap cannot fit in a sweep: refused by its
        length, before each of its values is checked (thousands take the loop a good part
        of a second)."""
        if values > self.sweep_runs:
            message = (
                f"{values} values for {name}: a sweep makes at most {self.sweep_runs} runs; --max-sweep-runs raises it."
            )
            raise CapExceeded("sweep_runs", "--max-sweep-runs", name, message)


RUN_CAPS = ("requests_per_burst", "burst_seconds", "target_memory_mb", "response_bytes")
"""The caps that mean something to one headless run."""
SWEEP_CAPS = (*RUN_CAPS, "sweep_runs")


def add_limit_flags(
    parser: argparse._ActionsContainer, names: tuple[str, ...] | None = None, default: Any = None
) -> None:
    """`default` replaces each cap's own default (argparse.SUPPRESS: absent unless given)."""
    group = (
        parser.add_argument_group("caps (what one request may start)")
        if isinstance(parser, argparse.ArgumentParser)
        else parser
    )
    for f in fields(Limits):
        if names is not None and f.name not in names:
            continue
        group.add_argument(
            f.metadata["flag"],
            dest=f"max_{f.name}",
            type=int,
            metavar="N",
            default=f.default if default is None else default,
            help=f"most {f.metadata['what']} (default: {f.default})",
        )


def limits_from(args: argparse.Namespace) -> Limits:
    """The caps from parsed flags; one line and exit 2 for a cap below 1."""
    values = {f.name: getattr(args, f"max_{f.name}") for f in fields(Limits) if hasattr(args, f"max_{f.name}")}
    for f in fields(Limits):
        if values.get(f.name, 1) < 1:
            print(f"connscope: error: {f.metadata['flag']} {values[f.name]}: Must be at least 1.", file=sys.stderr)
            raise SystemExit(2)
    return Limits(**values)


def _number(value: float) -> str:
    """Up to three decimals, and past a million in scientific notation (a rate of 1e-300
    schedules a burst for 1e+302 seconds, not for a 300-digit number of them)."""
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.3g}"
