"""Every run, recorded: SQLite in the user's data directory (or a path given).

Each row keeps the result's schema version (`version`); rows from before the column are
version 1 and still load (app/result.py's `load`)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.comparison import ComparisonRecord
from app.errors import StoreError
from app.result import RunResult, load
from app.sandbox.engines import ENGINES

STORE_ENV = "CONNSCOPE_STORE"
MAX_RUN_ID = 2**63 - 1
"""SQLite's largest rowid: a larger id names no run."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at TEXT NOT NULL,
    scenario TEXT,
    summary TEXT NOT NULL,
    result TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 2
)
"""
SWEEPS = """
CREATE TABLE IF NOT EXISTS sweeps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at TEXT NOT NULL,
    summary TEXT NOT NULL,
    record TEXT NOT NULL
)
"""
"""A sweep's record (app/sweep.py's `Sweep.record`): its axes, cells, figures and the ids
of its runs, each also a row of `runs`."""
COMPARISONS = """
CREATE TABLE IF NOT EXISTS comparisons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at TEXT NOT NULL,
    run_a INTEGER NOT NULL,
    run_b INTEGER NOT NULL,
    mode TEXT NOT NULL,
    summary TEXT NOT NULL
)
"""
"""A comparison's two runs are ordinary rows of `runs`; this names the pair and how they ran."""
ADD_VERSION = "ALTER TABLE runs ADD COLUMN version INTEGER NOT NULL DEFAULT 1"
"""A store made before the column: its rows are version 1."""


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
    version: int


def describe(result: RunResult) -> str:
    """One line for a run list: what was run and what came of it."""
    s, b, t = result.settings, result.burst, result.totals
    engine = ENGINES[s.server]
    # Each engine's own gate under its own name: a Granian run is not "limit ∞".
    gate = "no 503 gate"
    if engine.gate is not None:
        name, word = engine.gate
        gate = f"{word} {'∞' if getattr(s, name) is None else getattr(s, name)}"
    server = "" if s.server == "uvicorn" else f"{engine.title}, "
    interrupted = f"interrupted (cancelled: {result.cancelled}): " if result.cancelled else ""
    others = {"error": t.error, "refused": t.refused, "reset": t.reset, "timeout": t.timeout, "cancelled": t.cancelled}
    return (
        f"{interrupted}{b.connections} conns {b.pattern} → {server}{gate}, "
        f"backlog {s.backlog}, "
        f"{s.handler} {s.handler_ms:g} ms, {s.loop}: {t.ok} ok, {t.rejected} 503"
        + "".join(f", {n} {k}" for k, n in others.items() if n)
    )


class RunStore:
    """Opening checks that the store is writable and holds runs, so a run is never fired
    only to be lost at the end; afterwards the file must stay where it was (a store deleted
    meanwhile is an error, not a fresh empty one)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.closing(sqlite3.connect(self.path, timeout=10)) as db, db:
                db.execute(SCHEMA)
                db.execute(SWEEPS)
                db.execute(COMPARISONS)
                columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
                if "version" not in columns:
                    db.execute(ADD_VERSION)
                # Takes the write lock: a read-only file or directory fails here, not after a burst.
                db.execute("DELETE FROM runs WHERE 0")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot use run store {self.path}: {_reason(exc)}") from None

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            with contextlib.closing(sqlite3.connect(f"{self.path.as_uri()}?mode=rw", uri=True, timeout=10)) as db, db:
                yield db
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"run store {self.path} is unavailable: {_reason(exc)}") from None

    def save(self, result: RunResult) -> int:
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO runs (recorded_at, scenario, summary, result, version) VALUES (?, ?, ?, ?, ?)",
                (
                    datetime.now(UTC).isoformat(timespec="seconds"),
                    result.scenario,
                    describe(result),
                    result.model_dump_json(exclude={"run_id"}),
                    result.schema_version,
                ),
            )
            return int(cursor.lastrowid or 0)

    def list(self, limit: int = 200) -> list[RunInfo]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, recorded_at, scenario, summary, version FROM runs ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [RunInfo(*row) for row in rows]

    def get(self, run_id: int) -> RunResult | None:
        if not 0 < run_id <= MAX_RUN_ID:
            return None
        with self._connect() as db:
            row = db.execute("SELECT result, version FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        try:
            result = load(row[0], row[1])
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise StoreError(f"run {run_id} in {self.path} cannot be read: {where}: {error['msg']}") from None
        except ValueError as exc:
            raise StoreError(f"run {run_id} in {self.path} cannot be read: {exc}") from None
        return result.model_copy(update={"run_id": run_id})

    def delete(self, run_id: int) -> bool:
        """Removes a run; False when there is no such run."""
        if not 0 < run_id <= MAX_RUN_ID:
            return False
        with self._connect() as db:
            return db.execute("DELETE FROM runs WHERE id = ?", (run_id,)).rowcount > 0

    def save_sweep(self, summary: str, record: dict[str, Any], sweep_id: int | None = None) -> int:
        """Records a sweep, or updates it (`sweep_id`) as its cells fill in."""
        text = json.dumps(record)
        with self._connect() as db:
            if sweep_id is not None:
                db.execute("UPDATE sweeps SET summary = ?, record = ? WHERE id = ?", (summary, text, sweep_id))
                return sweep_id
            cursor = db.execute(
                "INSERT INTO sweeps (recorded_at, summary, record) VALUES (?, ?, ?)",
                (datetime.now(UTC).isoformat(timespec="seconds"), summary, text),
            )
            return int(cursor.lastrowid or 0)

    def get_sweep(self, sweep_id: int) -> dict[str, Any] | None:
        if not 0 < sweep_id <= MAX_RUN_ID:
            return None
        with self._connect() as db:
            row = db.execute("SELECT record FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        if row is None:
            return None
        record: dict[str, Any] = json.loads(row[0])
        record["sweep"]["id"] = sweep_id
        return record

    def list_sweeps(self, limit: int = 200) -> tuple[SweepInfo, ...]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, recorded_at, summary, record FROM sweeps ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return tuple(
            SweepInfo(id, at, summary, tuple(r for c in json.loads(record)["cells"] for r in c["run_ids"] if r))
            for id, at, summary, record in rows
        )

    def details(self, run_ids: tuple[int, ...]) -> dict[int, RunDetails]:
        """Workers, arrival pattern and rate of the given runs, read inside SQLite (a run's
        result can be megabytes; the list needs three fields of it)."""
        if not run_ids:
            return {}
        marks = ",".join("?" * len(run_ids))
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, json_extract(result, '$.settings.workers'), json_extract(result, '$.burst.pattern'), "
                "json_extract(result, '$.burst.rate'), json_extract(result, '$.burst.ramp_s') "
                f"FROM runs WHERE id IN ({marks})",
                run_ids,
            ).fetchall()
        return {row[0]: RunDetails(*row[1:]) for row in rows}


@dataclass(frozen=True, slots=True)
class ComparisonInfo:
    id: int
    recorded_at: str
    run_a: int
    run_b: int
    mode: str
    """`sequential` (one after the other) or `concurrent` (at the same time)."""
    summary: str


class ComparisonStore:
    """The comparisons table of a run store."""

    def __init__(self, store: RunStore) -> None:
        self.store = store

    def save(self, run_a: int, run_b: int, mode: str, summary: str) -> int:
        with self.store._connect() as db:
            cursor = db.execute(
                "INSERT INTO comparisons (recorded_at, run_a, run_b, mode, summary) VALUES (?, ?, ?, ?, ?)",
                (datetime.now(UTC).isoformat(timespec="seconds"), run_a, run_b, mode, summary),
            )
            return int(cursor.lastrowid or 0)

    def list(self, limit: int = 200) -> list[ComparisonInfo]:
        with self.store._connect() as db:
            rows = db.execute(
                "SELECT id, recorded_at, run_a, run_b, mode, summary FROM comparisons ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [ComparisonInfo(*row) for row in rows]

    def get(self, comparison_id: int) -> ComparisonInfo | None:
        if not 0 < comparison_id <= MAX_RUN_ID:
            return None
        with self.store._connect() as db:
            row = db.execute(
                "SELECT id, recorded_at, run_a, run_b, mode, summary FROM comparisons WHERE id = ?", (comparison_id,)
            ).fetchone()
        return None if row is None else ComparisonInfo(*row)

    def record(self, comparison_id: int) -> ComparisonRecord | None:
        """A recorded comparison with both its runs; None when it, or one of its runs, is gone."""
        info = self.get(comparison_id)
        if info is None:
            return None
        a, b = self.store.get(info.run_a), self.store.get(info.run_b)
        if a is None or b is None:
            return None
        return ComparisonRecord(a=a, b=b, id=info.id, recorded_at=info.recorded_at, mode=info.mode)

    def delete(self, comparison_id: int) -> bool:
        """Removes the comparison, not its runs (they stay as ordinary runs)."""
        if not 0 < comparison_id <= MAX_RUN_ID:
            return False
        with self.store._connect() as db:
            return db.execute("DELETE FROM comparisons WHERE id = ?", (comparison_id,)).rowcount > 0

    def of_runs(self) -> dict[int, tuple[int, str]]:
        """Run id → (its comparison, its side `A`/`B`), for the run list's kind column."""
        with self.store._connect() as db:
            rows = db.execute("SELECT id, run_a, run_b FROM comparisons").fetchall()
        return {run: (cid, side) for cid, a, b in rows for run, side in ((a, "A"), (b, "B"))}


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror.lower()}: {exc.filename}" if exc.filename else exc.strerror.lower()
    return str(exc)


@dataclass(frozen=True, slots=True)
class SweepInfo:
    id: int
    recorded_at: str
    summary: str
    run_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class RunDetails:
    workers: int | None
    pattern: str | None
    rate: float | None
    ramp_s: float | None

    @property
    def arrivals(self) -> str:
        """The arrival pattern as the burst form says it: "rate 20/s", "ramp over 2 s", "burst"."""
        if self.pattern in ("rate", "poisson") and self.rate is not None:
            return f"{self.pattern} {self.rate:g}/s"
        if self.pattern == "ramp" and self.ramp_s is not None:
            return f"ramp over {self.ramp_s:g} s"
        return self.pattern or "–"
