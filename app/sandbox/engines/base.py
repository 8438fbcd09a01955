"""The one interface every server engine meets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
class Engine:
    name: str
    """The `server` setting's value."""
    title: str
    distributions: tuple[str, ...]
    """PyPI names whose versions say which server ran (gunicorn also needs uvicorn-worker)."""
    settings_fields: tuple[str, ...]
    """The TargetSettings fields it reads; any other engine's field given a value is refused."""
    witnesses: str
    """What the server witness sees inside this engine, as the target panel says it."""
    instead: Mapping[str, str] = field(default_factory=dict)
    """Another engine's field → what this one has instead, said after the engine's name."""

    def version(self) -> str:
        return " + ".join(f"{d} {_version(d)}" for d in self.distributions)

    def validate(self, values: Mapping[str, Any]) -> dict[str, str]:
        """field → why this engine refuses the value; none by default."""
        return {}
