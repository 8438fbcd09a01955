"""Every run, recorded: SQLite in the user's data directory (or a path given)."""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STORE_ENV = "CONNSCOPE_STORE"

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at TEXT NOT NULL,
    scenario TEXT,
    summary TEXT NOT NULL,
    result TEXT NOT NULL
)
"""


def default_path() -> Path:
    if os.environ.get(STORE_ENV):
        return Path(os.environ[STORE_ENV])
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data / "connscope" / "runs.sqlite3"


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: int
    recorded_at: str
    scenario: str | None
    summary: str


def describe(result: dict[str, Any]) -> str:
    """One line for a run list: what was run and what came of it."""
    s, b, t = result["settings"], result["burst"], result["totals"]
    limit = s["limit_concurrency"] if s["limit_concurrency"] is not None else "∞"
    interrupted = f"interrupted ({result['cancelled']}): " if result.get("cancelled") else ""
    return (
        f"{interrupted}{b['connections']} conns {b['pattern']} → limit {limit}, backlog {s['backlog']}, "
        f"{s['handler']} {s['handler_ms']:g} ms, {s['loop']}: {t['ok']} ok, {t['rejected']} 503"
        + "".join(f", {t[k]} {k}" for k in ("error", "refused", "reset", "timeout", "cancelled") if t.get(k))
    )


class RunStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def save(self, result: dict[str, Any]) -> int:
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO runs (recorded_at, scenario, summary, result) VALUES (?, ?, ?, ?)",
                (datetime.now(UTC).isoformat(timespec="seconds"), result.get("scenario"), describe(result),
                 json.dumps(result)),
            )
            return int(cursor.lastrowid or 0)

    def list(self, limit: int = 200) -> list[RunInfo]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, recorded_at, scenario, summary FROM runs ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [RunInfo(*row) for row in rows]

    def get(self, run_id: int) -> dict[str, Any] | None:
        with self._connect() as db:
            row = db.execute("SELECT result FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]), run_id=run_id)
