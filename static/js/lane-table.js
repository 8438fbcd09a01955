/*
 * The lanes, left to right, built from the vocabulary:
 *   connecting → limbo → backlog (accept-queue places) → accepted → slots → outcome bins.
 * Lane index == colour group index: every dot of one lane has one colour and one shape,
 * so a frame draws each lane's dots as one path.
 */
import { OUTCOMES, OUTCOME_TERMS, STATE, STATE_TERMS, term } from "./vocabulary.js";

/** Above this many connections the view draws counts per lane instead of dots. */
export const MAX_DOTS = 2000;

// The two lanes of places: the kernel's accept queue and uvicorn's concurrency slots.
const PLACES = new Set([STATE.QUEUED, STATE.ACTIVE]);

const stateLanes = STATE_TERMS.filter((t) => t.lane).map((t, column) => ({
  key: t.lane, state: t.key, label: t.lane, caption: t.caption, column,
  kind: PLACES.has(t.key) ? "places" : "free", colour: t.colour, shape: t.shape,
}));

export const FIRST_BIN = stateLanes.length;

export const LANES = [
  ...stateLanes,
  ...OUTCOME_TERMS.map((t) => ({
    key: t.key, outcome: t.key, label: t.bin_label, glyph: t.glyph, column: FIRST_BIN,
    kind: "bin", colour: t.colour, shape: t.shape, optional: t.optional,
  })),
];

const LANE_OF_STATE = Object.fromEntries(stateLanes.map((lane, index) => [lane.state, index]));
export const BACKLOG = LANE_OF_STATE[STATE.QUEUED];
export const SLOTS = LANE_OF_STATE[STATE.ACTIVE];
export const ACCEPTED = LANE_OF_STATE[STATE.ACCEPTED];
export const CLOSED_CAPTION = term(STATE.CLOSED).caption;

/** Which lane a stream row [cid, burst, state, outcome, t_ms] belongs in; -1: nowhere yet. */
export function laneOf(state, outcome) {
  if (state === STATE.CLOSED) {
    // Every closed connection has an outcome (a cut-short one `cancelled`).
    const index = OUTCOMES.indexOf(outcome);
    return index < 0 ? -1 : FIRST_BIN + index;
  }
  const lane = LANE_OF_STATE[state];
  return lane === undefined ? -1 : lane;
}
