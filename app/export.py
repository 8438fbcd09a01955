"""A run's result written out: JSON (as `connscope run --json`), CSV (a row per request),
or one self-contained HTML file that replays the run with no server and no network."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import jinja2
from pydantic import BaseModel

from app.assets import bundle_script, bundle_styles
from app.comparison import ComparisonRecord
from app.numbers import FILTERS
from app.result import PERCENTILE_LABELS, LatencyPercentiles, RunResult
from app.sandbox.engines import gate_each, settings_line
from app.timeline.histogram import PRECISION
from app.timeline.model import State
from app.vocabulary import VOCABULARY

ROOT = Path(__file__).resolve().parents[1]
CSV_COLUMNS = (
    "connection",
    "port",
    "burst",
    "request",
    "intended_start_ms",
    "connect_start_ms",
    "connected_ms",
    "request_start_ms",
    "sent_ms",
    "first_byte_ms",
    "done_ms",
    "outcome",
    "status",
    "latency_ms",
    "error",
    "timeout_state",
    "connect_ms",
    "queued_ms",
    "limbo_ms",
    "worker_pid",
    "client",
    "path",
)


def to_json(result: RunResult) -> str:
    return result.model_dump_json(indent=1)


def csv_header(result: RunResult) -> list[str]:
    """The run's settings as `#` comment lines above the table (pandas: `comment="#"`)."""

    def pairs(values: BaseModel) -> str:
        return " ".join(f"{key}={'none' if value is None else value}" for key, value in values.model_dump().items())

    run = f"run {result.run_id}" if result.run_id is not None else "a run"
    return [
        f"# connscope: {run}" + (f", scenario {result.scenario}" if result.scenario else ""),
        f"# target: {pairs(result.settings)}",
        f"# burst: {pairs(result.burst)}",
        f"# accept queue capacity (kernel): {result.accept_queue_capacity}",
        "# times in ms from the burst's start (CLOCK_MONOTONIC); blank: it did not happen. intended_start_ms:",
        "# when the connection was due; latency_ms: from the request's intended start to its outcome",
        f"# latency ms: {percentiles(result.latency_ms)}",
        f"# connect ms: {percentiles(result.connect_ms)}",
        f"# percentiles: {PRECISION}",
    ]


def percentiles(figures: LatencyPercentiles) -> str:
    return " ".join(f"{PERCENTILE_LABELS[k]}={'none' if v is None else v}" for k, v in figures.model_dump().items())


def to_csv(result: RunResult) -> str:
    out = io.StringIO()
    for line in csv_header(result):
        out.write(line.replace("\n", " ") + "\n")
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for index, connection in enumerate(result.connections):
        for number, request in enumerate(connection.requests):
            writer.writerow(
                {
                    "connection": index,
                    "port": connection.port,
                    "burst": connection.burst,
                    "request": number,
                    # Runs recorded before these times were kept have blanks here.
                    "intended_start_ms": connection.intended_ms,
                    "connect_start_ms": connection.connect_start_ms,
                    "connected_ms": connection.connected_ms,
                    "request_start_ms": request.start_ms,
                    "sent_ms": request.sent_ms,
                    "first_byte_ms": request.first_byte_ms,
                    "done_ms": request.done_ms,
                    "outcome": request.outcome.value if request.outcome else None,
                    "status": request.status,
                    "latency_ms": request.latency_ms,
                    "error": request.error or "",
                    "timeout_state": request.timeout_state.value if request.timeout_state else "",
                    "connect_ms": round(connection.time_in(State.CONNECTING), 3),
                    "queued_ms": round(connection.time_in(State.QUEUED), 3),
                    "limbo_ms": round(connection.time_in(State.LIMBO), 3),
                    "worker_pid": connection.worker_pid,
                    "client": connection.client,
                    "path": request.path or "",
                }
            )
    return out.getvalue()


def to_html(result: RunResult) -> str:
    """The replay page with the run, our renderer and styles inlined: it opens from file://
    with no server and no network."""
    # The replay's modules bundled into one script (esbuild): it starts the replay itself.
    scripts = bundle_script(ROOT / "static" / "js" / "export.js")
    template = _templates().get_template("export.html")
    return template.render(
        run=result.model_dump(mode="json"),
        standalone=True,
        css=bundle_styles(),
        scripts=scripts.replace("</script", "<\\/script"),
    )


def comparison_html(record: ComparisonRecord, report: dict[str, object]) -> str:
    """Both runs of a comparison replayed in lockstep under its report (`report`: the
    ComparisonReport as JSON), in one file that opens from file:// with no network."""
    scripts = bundle_script(ROOT / "static" / "js" / "compare-export.js")
    return (
        _templates()
        .get_template("compare_export.html")
        .render(
            report=report,
            a=record.a.model_dump(mode="json"),
            b=record.b.model_dump(mode="json"),
            standalone=True,
            css=bundle_styles(),
            scripts=scripts.replace("</script", "<\\/script"),
        )
    )


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "templates"), autoescape=True)
    env.globals["vocabulary"] = VOCABULARY
    env.globals["precision"] = PRECISION
    env.globals["settings_line"] = settings_line
    env.filters.update(FILTERS)
    env.globals["gate_each"] = gate_each
    return env


FORMATS: dict[str, Callable[[RunResult], str]] = {"json": to_json, "csv": to_csv, "html": to_html}
