"""Server engines: which server runs the target's app, described for the control side.

An engine is one module here (its settings, what it refuses, its version, its witnesses)
and its start code in `app.sandbox.child.engines.<name>` (`run(settings, fd)`), plus one
line in ENGINES. Settings are plain field values so this layer needs nothing of the model.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from app.sandbox.engines.base import Engine
from app.sandbox.engines.granian import GRANIAN
from app.sandbox.engines.gunicorn import GUNICORN
from app.sandbox.engines.hypercorn import HYPERCORN
from app.sandbox.engines.uvicorn import UVICORN

ENGINES: dict[str, Engine] = {e.name: e for e in (UVICORN, GUNICORN, GRANIAN, HYPERCORN)}
ENGINE_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(name for e in ENGINES.values() for name in e.settings_fields))
"""Every engine's settings, uvicorn's first: the server's part of a target's settings."""


def refusals(values: Mapping[str, Any], defaults: Mapping[str, Any], explicit: Collection[str] = ()) -> dict[str, str]:
    """field → why the chosen engine refuses it: a setting of another engine given a value
    (not its default, or any value when `explicit` names it: the user typed it), or a value
    the engine itself rejects."""
    engine = ENGINES[values["server"]]
    found: dict[str, str] = {}
    for other in ENGINES.values():
        for name in other.settings_fields:
            if name in engine.settings_fields or name in found:
                continue
            if values[name] == defaults[name] and name not in explicit:
                continue
            found[name] = (
                f"{name} is {other.title}'s; {engine.title} {engine.instead.get(name, 'has no such setting')}."
            )
    return found | engine.validate(values)


def settings_line(values: Mapping[str, Any]) -> str:
    """The server and its own settings under its own names, as a run's header says them:
    "Granian: backlog=128, backpressure=3, …" (a Granian run is not uvicorn with no limit)."""
    engine = ENGINES[values.get("server") or "uvicorn"]
    return f"{engine.title}: " + ", ".join(
        f"{name}={setting_text(values.get(name), name)}" for name in engine.settings_fields
    )


def gate_each(values: Mapping[str, Any]) -> str:
    """The bound on each worker's requests at once, under the server's own setting, as a run's
    per-worker table says it: "limit_concurrency 3 each", "backpressure 2 each", or that the
    server has no such bound (Hypercorn)."""
    engine = ENGINES[values.get("server") or "uvicorn"]
    if engine.gate is None:
        return f"{engine.title} has no concurrency gate"
    return f"{engine.gate[0]} {setting_text(engine.gate_value(values))} each"


def own_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """A target's settings without the other engines' fields: its server's own and the
    workload's, as its run's report and each side of a comparison list them."""
    return ENGINES[values.get("server") or "uvicorn"].own(values, ENGINE_FIELDS)


_UNSET = {s.name: s.unset for e in ENGINES.values() for s in e.settings if s.unset is not None}


def setting_text(value: Any, name: str = "") -> str:
    """A setting's value as runs, sweeps, reports and the CLI write it: what the engine does
    when left empty where the form says it (Granian's http1_keep_alive: `on`), else `none`;
    a switch (an engine's, or `instrument`) as `on`/`off`; floats without a trailing `.0`."""
    if value is None:
        return _UNSET.get(name, "none")
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


__all__ = [
    "ENGINES",
    "ENGINE_FIELDS",
    "Engine",
    "gate_each",
    "own_settings",
    "refusals",
    "setting_text",
    "settings_line",
]
