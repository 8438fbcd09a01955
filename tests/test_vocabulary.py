"""One source for the states and outcomes: app/vocabulary.py, built from the model's enums.

The stylesheets give each one its colour in vocabulary.css only; the scripts read the names
from the page's JSON (static/js/vocabulary.js) and never spell them out; the templates loop
over the vocabulary instead of listing them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from app.assets import STATIC_DIR, STYLESHEETS, bundle_script
from app.sandbox.engines import ENGINES
from app.timeline.model import Outcome, State
from app.vocabulary import OUTCOME_LOOKS, STATE_LOOKS, VOCABULARY

ROOT = Path(__file__).resolve().parents[1]
NAMES = [term.key for term in VOCABULARY.states + VOCABULARY.outcomes]
NAME = "|".join(NAMES)
# The literal names a script may still hold, each with why: none of them means a connection's state.
ALLOWED_LITERALS = {
    ("stream.js", "connecting"): "the WebSocket's own status in the top bar",
    ("compare-live.js", "connecting"): "each side's WebSocket status on the compare page",
}


def test_the_vocabulary_is_the_models_enums_in_order_each_with_its_look() -> None:
    assert [t.key for t in VOCABULARY.states] == [s.value for s in State]
    assert [t.key for t in VOCABULARY.outcomes] == [o.value for o in Outcome]
    # A new state or outcome shows with a plain look until it is given its own here.
    assert set(STATE_LOOKS) == set(State) and set(OUTCOME_LOOKS) == set(Outcome)
    assert len({t.glyph for t in VOCABULARY.outcomes}) == len(Outcome), "each outcome has a glyph of its own"
    assert len({t.shape for t in VOCABULARY.outcomes}) == len(Outcome), "each outcome has a shape of its own"
    assert [t.key for t in VOCABULARY.states if t.final] == [State.CLOSED.value]


def test_every_term_has_its_colour_and_tone_in_vocabulary_css_and_only_there() -> None:
    css = (STATIC_DIR / "css" / "vocabulary.css").read_text()
    for term in VOCABULARY.states + VOCABULARY.outcomes:
        assert re.search(rf"{term.colour}:\s*#[0-9a-f]{{6}};", css), f"{term.colour} has no colour"
        assert re.search(rf"\.{term.tone}\s*\{{\s*--tone:\s*var\({term.colour}\);\s*\}}", css), f".{term.tone}"
    assert "vocabulary.css" in STYLESHEETS
    for sheet in (STATIC_DIR / "css").glob("*.css"):
        if sheet.name == "vocabulary.css":
            continue
        text = re.sub(r"/\*.*?\*/", "", sheet.read_text(), flags=re.S)
        assert not re.search(r"--(state|outcome)-[\w-]+\s*:", text), f"{sheet.name} defines a state's colour"
        for selector in re.findall(r"([^{}]+)\{", text):
            assert not re.search(rf"(--|[=\"'])({NAME})\b", selector), f"{sheet.name}: {selector.strip()}"


def _code(text: str) -> str:
    """A script without its comments (a `//` inside a string, as in "wss://", stays)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"(^|\s)//.*$", r"\1", text, flags=re.M)


def test_no_script_spells_out_a_state_or_an_outcome() -> None:
    scripts = sorted((STATIC_DIR / "js").glob("*.js"))
    assert any(s.name == "vocabulary.js" for s in scripts)
    found = []
    for script in scripts:
        if script.name == "vocabulary.js":
            continue
        for match in re.finditer(rf"([\"'`])({NAME})\1", _code(script.read_text())):
            if (script.name, match.group(2)) not in ALLOWED_LITERALS:
                found.append(f"{script.name}: {match.group(0)}")
    assert found == []


def test_no_template_lists_states_or_outcomes() -> None:
    for template in sorted((ROOT / "templates").rglob("*.html")):
        text = template.read_text()
        for code in re.findall(r"\{[%{].*?[%}]\}", text, flags=re.S):
            assert not re.search(rf"[\"']({NAME})[\"']", code), f"{template.name}: {code}"
        assert not re.search(rf"(swatch|glyph|seg)--({NAME})\b", text), template.name


def test_the_export_script_is_one_esbuild_bundle_of_the_replay() -> None:
    try:
        bundle = bundle_script(STATIC_DIR / "js" / "export.js")
    except RuntimeError as exc:
        pytest.fail(str(exc))
    assert not re.search(r"^\s*(import|export)\s", bundle, flags=re.M)
    # esbuild names each module it took in; the replay, the lanes and the vocabulary are there.
    for module in (
        "export.js",
        "replay.js",
        "replay-clock.js",
        "replay-tip.js",
        "connection-tip.js",
        "lanes.js",
        "lane-geometry.js",
        "vocabulary.js",
    ):
        assert f"static/js/{module}" in bundle, module
    done = subprocess.run(["node", "--check", "-"], input=bundle, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_each_engine_has_its_own_words_built_from_its_gate() -> None:
    """What holds an accepted connection, what a 503 means and what bounds the slots depend
    on the server: the page gets them from the engines, not from a table of its own."""
    words = VOCABULARY.as_json()["engines"]
    assert set(words) == set(ENGINES)
    for name, engine in ENGINES.items():
        said = words[name]
        assert said["accepted_caption"] == f"{engine.title} has it, not the app"
        assert engine.title in said["accepted_hint"]
        # Only a server whose gate answers 503 says a 503 means its limit was reached.
        assert ("limit reached" in said["rejected_hint"]) == engine.rejects
        assert said["gate_setting"] == (engine.gate[0] if engine.gate else None)
    assert words["granian"]["slots_label"] == "slots (backpressure)"
    assert words["granian"]["rejected_hint"] == "503 from the app: Granian has no 503 gate"
    assert words["hypercorn"]["slots_label"] == "slots (Hypercorn: no gate)"
    assert words["uvicorn"]["slots_label"] == "slots (limit_concurrency)"
    assert "uvicorn" not in STATE_LOOKS[State.ACCEPTED].caption, "no server named before one is chosen"


def test_no_script_spells_out_an_engine() -> None:
    """The scripts pick a server's words by its settings' `server` from the vocabulary's engines."""
    names = "|".join(name for name in ENGINES if name != "uvicorn")
    found = [
        f"{script.name}: {match.group(0)}"
        for script in sorted((STATIC_DIR / "js").glob("*.js"))
        for match in re.finditer(rf"([\"'`])({names})\1", _code(script.read_text()))
    ]
    assert found == []
