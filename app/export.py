"""A run's result written out: JSON (as `connscope run --json`), CSV (a row per request),
or one self-contained HTML file that replays the run with no server and no network."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import jinja2

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
    """The replay page with the run, our renderer and styles inlined: it opens from file://
    with no server and no network."""
    modules = [(ROOT / "static" / "js" / name).read_text() for name in ("lanes.js", "replay.js")]
    # One inline module instead of two files: drop the import between them and the
    # export keywords, which an inline script has no use for.
    scripts = "\n".join(
        line.removeprefix("export ")
        for module in modules
        for line in module.splitlines()
        if not (line.startswith("import ") and line.rstrip().endswith('from "./lanes.js";'))
    )
    template = _templates().get_template("export.html")
    return template.render(
        run=result, standalone=True,
        css=(ROOT / "static" / "css" / "app.css").read_text(),
        scripts=scripts.replace("</script", "<\\/script"),
    )


def _templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "templates"), autoescape=True)


FORMATS = {"json": to_json, "csv": to_csv, "html": to_html}
