"""The one source of the words, glyphs and colours the page shows for each connection state
and request outcome.

The names come from the model's `State` and `Outcome` enums; this module adds how each one
looks. The templates receive `VOCABULARY` (legend, counters, replay), and the page receives it
as JSON (`<script type="application/json" id="connscope-vocabulary">`), which
static/js/vocabulary.js reads for the lanes, the chart and the tooltip. Each colour is a CSS
custom property named here and defined once, in static/css/vocabulary.css.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from app.sandbox.engines import ENGINES, Engine
from app.timeline.model import Outcome, State


@dataclass(frozen=True, slots=True)
class Look:
    """How a state or an outcome shows; any field left out has a plain default."""

    hint: str = ""
    glyph: str = "·"
    shape: str = "circle"
    """The dot's shape on the canvas, drawn to match the glyph."""
    lane: str | None = None
    """A state's lane name (the lanes name the kernel's and uvicorn's places); None: no lane."""
    caption: str = ""
    """The lane's or the outcome bin's caption."""
    bin_label: str | None = None
    """An outcome bin's heading, when it says more than the name (the status code)."""
    dash: tuple[int, ...] = ()
    """The state's line in the chart: dashes as well as a colour, so it reads in grey-scale."""
    weight: float = 2
    optional: bool = False
    """An outcome bin shown only once something ended there."""


@dataclass(frozen=True, slots=True)
class Term:
    key: str
    kind: str
    """"state" or "outcome"."""
    label: str
    hint: str
    glyph: str
    shape: str
    colour: str
    """The CSS custom property with its colour, e.g. `--state-queued`."""
    tone: str
    """The CSS class that gives an element this colour as `--tone`, e.g. `tone--queued`."""
    lane: str | None
    caption: str
    bin_label: str
    dash: tuple[int, ...]
    weight: float
    optional: bool
    final: bool = False
    """The state a connection ends in (no peak, no lane of its own)."""


STATE_LOOKS: dict[State, Look] = {
    State.CONNECTING: Look("SYN sent", lane="connecting", caption="SYN sent, waiting", dash=(6, 4)),
    State.LIMBO: Look("SYN cookie, no socket", lane="limbo", caption="SYN cookie, no socket", dash=(2, 3)),
    State.QUEUED: Look("in the backlog", lane="backlog", caption="kernel accept queue", weight=3),
    # The server's own name replaces "the server" once a target or run says which (ENGINE_WORDS).
    State.ACCEPTED: Look(
        "the server, not in app", lane="accepted", caption="the server has it, not the app", dash=(10, 3, 2, 3)
    ),
    State.ACTIVE: Look("in the app", lane="slots", caption="request in the app", weight=3),
    # Bins count connections; the counters count requests (a keep-alive connection has several).
    State.CLOSED: Look("all bursts so far", caption="connections, by last request's outcome", dash=(1, 3)),
}

OUTCOME_LOOKS: dict[Outcome, Look] = {
    Outcome.OK: Look("2xx / 3xx", glyph="●", bin_label="200 ok"),
    Outcome.REJECTED: Look("503, limit reached", glyph="■", shape="square", bin_label="503 rejected"),
    Outcome.ERROR: Look("other status", glyph="▲", shape="triangle"),
    Outcome.REFUSED: Look("nothing listening", glyph="✕", shape="cross"),
    Outcome.RESET: Look("cut before a reply", glyph="◆", shape="diamond"),
    Outcome.TIMEOUT: Look("client gave up", glyph="○", shape="ring"),
    # connscope cut the burst short (its target stopped or replaced): shown only when it happened.
    Outcome.CANCELLED: Look("burst cut short", glyph="▬", shape="bar", optional=True),
}


def _term(key: str, kind: str, look: Look, final: bool = False) -> Term:
    return Term(
        key=key,
        kind=kind,
        label=key,
        hint=look.hint,
        glyph=look.glyph,
        shape=look.shape,
        colour=f"--{kind}-{key}",
        tone=f"tone--{key}",
        lane=look.lane,
        caption=look.caption,
        bin_label=look.bin_label or key,
        dash=look.dash,
        weight=look.weight,
        optional=look.optional,
        final=final,
    )


@dataclass(frozen=True, slots=True)
class Vocabulary:
    states: tuple[Term, ...]
    outcomes: tuple[Term, ...]
    by_key: dict[str, Term] = field(repr=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "states": [asdict(t) for t in self.states],
            "outcomes": [asdict(t) for t in self.outcomes],
            "engines": {name: asdict(words) for name, words in ENGINE_WORDS.items()},
        }


@dataclass(frozen=True, slots=True)
class EngineWords:
    """The words that depend on the server: what holds an accepted connection, the gate's
    setting, and what a 503 means (only a server with a 503 gate answers one for load)."""

    title: str
    gate_setting: str | None
    accepted_hint: str
    accepted_caption: str
    rejected_hint: str
    slots_label: str
    """The numbers card's slots row: the setting that bounds them, per worker."""


def engine_words(engine: Engine) -> EngineWords:
    gate = engine.gate[0] if engine.gate is not None else None
    return EngineWords(
        title=engine.title,
        gate_setting=gate,
        accepted_hint=f"{engine.title}, not in app",
        accepted_caption=f"{engine.title} has it, not the app",
        rejected_hint=(
            OUTCOME_LOOKS[Outcome.REJECTED].hint
            if engine.rejects
            else f"503 from the app: {engine.title} has no 503 gate"
        ),
        slots_label=f"slots ({gate})" if gate else f"slots ({engine.title}: no gate)",
    )


ENGINE_WORDS: dict[str, EngineWords] = {name: engine_words(e) for name, e in ENGINES.items()}


def build() -> Vocabulary:
    """Every member of the enums, in their order; one the looks forget still shows, plainly."""
    states = tuple(_term(s.value, "state", STATE_LOOKS.get(s, Look()), final=s is State.CLOSED) for s in State)
    outcomes = tuple(_term(o.value, "outcome", OUTCOME_LOOKS.get(o, Look())) for o in Outcome)
    return Vocabulary(states, outcomes, {t.key: t for t in states + outcomes})


VOCABULARY = build()
