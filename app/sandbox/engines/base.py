"""The one interface every server engine meets."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Any


@cache
def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


@dataclass(frozen=True, slots=True)
class Setting:
    """A row of an engine's settings table: a TargetSettings field the engine reads, or, with
    `instead`, another engine's field and what this one has in its place (said after the
    engine's name when a value for that field is refused)."""

    name: str
    instead: str | None = None
    unset: str | None = None
    """What the engine does when the field is left empty, as the form's empty choice says it
    ("on": Granian keeps connections alive); None: the value is written `none`."""


@dataclass(frozen=True, slots=True)
class Engine:
    name: str
    """The `server` setting's value."""
    title: str
    distributions: tuple[str, ...]
    """PyPI names whose versions say which server ran (gunicorn also needs uvicorn-worker)."""
    settings: tuple[Setting, ...]
    """Its settings table; another engine's field given a value and not in it is refused too,
    the engine having no such setting."""
    witnesses: str
    """What the server witness sees inside this engine, as the target panel says it."""
    gate: tuple[str, str] | None
    """The setting that bounds how many requests run at once, and its word in a run's
    one-line summary ("limit", "backpressure"); None: the engine has none."""
    witnesses_for: Callable[[Mapping[str, Any]], str] | None = None
    """`witnesses` for a target's settings, where they change what is seen (loop, workers)."""

    @property
    def settings_fields(self) -> tuple[str, ...]:
        """The TargetSettings fields it reads, in the table's order."""
        return tuple(s.name for s in self.settings if s.instead is None)

    @property
    def instead(self) -> dict[str, str]:
        """Another engine's field → what this one has instead."""
        return {s.name: s.instead for s in self.settings if s.instead is not None}

    def own(self, values: Mapping[str, Any], every: Collection[str]) -> dict[str, Any]:
        """`values` without the fields of `every` (all engines' settings) this engine does not
        read: its own settings and the workload's, as its run's report lists them."""
        return {k: v for k, v in values.items() if k not in every or k in self.settings_fields}

    @property
    def rejects(self) -> bool:
        """Whether its gate answers 503 (uvicorn's limit_concurrency) rather than making
        requests wait (Granian's backpressure)."""
        return self.gate is not None and self.gate[0] == "limit_concurrency"

    def gate_value(self, values: Mapping[str, Any]) -> int | None:
        """How many requests one worker runs at once under the gate, as the engine takes it;
        None: no bound."""
        if self.gate is None:
            return None
        value = values.get(self.gate[0])
        return None if value is None else int(value)

    def gate_words(self, value: int | None, workers: int = 1, default: bool = False) -> str:
        """The gate in a finding's words, from `gate_value` and the workers it applies to (and
        whether that value is the engine's default): "limit 3", "gunicorn with limit 3 per
        worker", "Granian with backpressure 2 per worker", "Hypercorn, which has no
        concurrency gate,"."""
        if self.gate is None:
            return f"{self.title}, which has no concurrency gate,"
        word = self.gate[1]
        if value is None:
            return f"{self.title} without a concurrency {word}"
        each = " per worker" if workers > 1 else ""
        said = f"{word} {value:,}{each}" + (" (its default: backlog / workers)" if default else "")
        # uvicorn is the reference every finding was first written for: its limit goes unnamed.
        return said if self.name == "uvicorn" else f"{self.title} with {said}"

    def witnessed(self, values: Mapping[str, Any]) -> str:
        """What sees a target with these settings: with `instrument` off, the kernel alone."""
        if not values.get("instrument", True):
            return "kernel only (instrument off: nothing reports from inside the server)"
        return self.witnesses_for(values) if self.witnesses_for is not None else self.witnesses

    def version(self) -> str:
        return " + ".join(f"{d} {_version(d)}" for d in self.distributions)

    def validate(self, values: Mapping[str, Any]) -> dict[str, str]:
        """field → why this engine refuses the value; none by default."""
        return {}
