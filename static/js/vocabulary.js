/*
 * The connection states and request outcomes, with their words, glyphs and colours, as the
 * server gives them (app/vocabulary.py, in <script id="connscope-vocabulary">). The only
 * script that knows the names: the others take them from here.
 */

const source = JSON.parse(document.getElementById("connscope-vocabulary").textContent);

/** Each state and outcome: {key, label, hint, glyph, shape, colour, tone, lane, caption, bin_label, dash, weight, optional, final}. */
export const STATE_TERMS = source.states;
export const OUTCOME_TERMS = source.outcomes;

export const STATES = STATE_TERMS.map((term) => term.key);
export const OUTCOMES = OUTCOME_TERMS.map((term) => term.key);

/** The states by name, for code that means one of them: `STATE.CLOSED`, `STATE.QUEUED`… */
export const STATE = Object.fromEntries(STATES.map((key) => [key.toUpperCase(), key]));
export const OUTCOME = Object.fromEntries(OUTCOMES.map((key) => [key.toUpperCase(), key]));

/**
 * The words that depend on the server (app/vocabulary.py EngineWords, built from each
 * engine's own gate): {title, gate_setting, accepted_hint, accepted_caption, rejected_hint,
 * slots_label}.
 */
export const ENGINES = source.engines;

/** The words for the server a target's or a run's settings name (uvicorn when they name none). */
export function engineWords(settings) {
  return ENGINES[settings?.server ?? "uvicorn"] ?? ENGINES.uvicorn;
}

/** The states a connection is in until it ends (each has a lane and a peak). */
export const OPEN_STATES = STATE_TERMS.filter((term) => !term.final).map((term) => term.key);

const byKey = new Map([...STATE_TERMS, ...OUTCOME_TERMS].map((term) => [term.key, term]));

/** The term for a state or an outcome, or undefined. */
export function term(key) {
  return byKey.get(key);
}

/** An outcome's glyph; "·" for none yet. */
export function glyphOf(key) {
  return byKey.get(key)?.glyph ?? "·";
}

/** The class that colours an element as the state or outcome (`--tone`), or "" for none. */
export function toneOf(key) {
  return byKey.get(key)?.tone ?? "";
}
