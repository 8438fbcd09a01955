"""A run's result written out: JSON (as `connscope run --json`), CSV (a row per request),
or one self-contained HTML file that replays the run with no server and no network."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from app.scenarios import time_in

ROOT = Path(__file__).resolve().parents[1]
CSV_COLUMNS = (
    "connection", "port", "burst", "request", "outcome", "status", "latency_ms", "error", "timeout_state",
    "connect_ms", "queued_ms", "limbo_ms",
)


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=1)


def to_csv(result: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for index, connection in enumerate(result["connections"]):
        for number, request in enumerate(connection["requests"]):
            writer.writerow({
                "connection": index,
                "port": connection["port"],
                "burst": connection.get("burst", 1),
                "request": number,
                "outcome": request["outcome"],
                "status": request["status"],
                "latency_ms": request["latency_ms"],
                "error": request.get("error", ""),
                "timeout_state": request.get("timeout_state", ""),
                "connect_ms": round(time_in(connection, "connecting"), 3),
                "queued_ms": round(time_in(connection, "queued"), 3),
                "limbo_ms": round(time_in(connection, "limbo"), 3),
            })
    return out.getvalue()


def to_html(result: dict[str, Any]) -> str:
    """The replay page with the run and our own renderer inlined: it opens from file://."""
    template = (ROOT / "templates" / "export.html").read_text()
    scripts = "\n".join(
        (ROOT / "static" / "js" / name).read_text() for name in ("lanes.js", "replay.js")
    )
    css = (ROOT / "static" / "css" / "app.css").read_text()
    data = json.dumps(result).replace("</", "<\\/")
    return (
        template.replace("/*CONNSCOPE_CSS*/", css)
        .replace("/*CONNSCOPE_SCRIPTS*/", scripts.replace("</script", "<\\/script"))
        .replace("/*CONNSCOPE_RUN*/null", data)
    )


FORMATS = {"json": to_json, "csv": to_csv, "html": to_html}
