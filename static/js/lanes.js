/*
 * The live view: one dot per connection, in lanes left to right
 *   connecting → limbo → backlog (accept-queue places) → accepted → slots → outcome bins.
 * A small canvas renderer of our own; the lane headers are HTML over the canvas so they
 * stay crisp, readable by screen readers, and testable ([data-lane]).
 */

export const STATES = ["connecting", "limbo", "queued", "accepted", "active", "closed"];
export const OUTCOMES = ["ok", "rejected", "error", "refused", "reset", "timeout", "cancelled"];

/** Above this many connections the view draws counts per lane instead of dots. */
export const MAX_DOTS = 2000;

const GLIDE_MS = 250;
const PAD = 4;
const GUTTER = 16;
const HEAD = 90; // room for the HTML lane header (--lane-head overrides it, e.g. in presenter mode)
const BIN_HEAD = 22; // the bin's label row; a taller label (presenter mode) widens it
const BIN_GAP = 4;
const BIN_MIN_DOTS = 16;
const MAX_DOT_CELL = 18;
const MAX_PLACE_CELL = 30;
const MIN_FREE_BUCKET = 16;

/*
 * Lane index == colour group index: every dot of one lane has one colour and one shape,
 * so a frame draws each lane's dots as one path.
 */
export const LANES = [
  { key: "connecting", state: "connecting", label: "connecting", caption: "SYN sent, waiting", column: 0, kind: "free", colour: "--state-connecting", shape: "circle" },
  { key: "limbo", state: "limbo", label: "limbo", caption: "SYN cookie, no socket", column: 1, kind: "free", colour: "--state-limbo", shape: "circle" },
  { key: "backlog", state: "queued", label: "backlog", caption: "kernel accept queue", column: 2, kind: "places", colour: "--state-queued", shape: "circle" },
  { key: "accepted", state: "accepted", label: "accepted", caption: "uvicorn has it, not the app", column: 3, kind: "free", colour: "--state-accepted", shape: "circle" },
  { key: "slots", state: "active", label: "slots", caption: "request in the app", column: 4, kind: "places", colour: "--state-active", shape: "circle" },
  { key: "ok", outcome: "ok", label: "200 ok", glyph: "●", column: 5, kind: "bin", colour: "--outcome-ok", shape: "circle" },
  { key: "rejected", outcome: "rejected", label: "503 rejected", glyph: "■", column: 5, kind: "bin", colour: "--outcome-rejected", shape: "square" },
  { key: "error", outcome: "error", label: "error", glyph: "▲", column: 5, kind: "bin", colour: "--outcome-error", shape: "triangle" },
  { key: "refused", outcome: "refused", label: "refused", glyph: "✕", column: 5, kind: "bin", colour: "--outcome-refused", shape: "cross" },
  { key: "reset", outcome: "reset", label: "reset", glyph: "◆", column: 5, kind: "bin", colour: "--outcome-reset", shape: "diamond" },
  { key: "timeout", outcome: "timeout", label: "timeout", glyph: "○", column: 5, kind: "bin", colour: "--outcome-timeout", shape: "ring" },
  // connscope cut the burst short (its target stopped or replaced): shown only when it happened.
  { key: "cancelled", outcome: "cancelled", label: "cancelled", glyph: "▬", column: 5, kind: "bin", colour: "--outcome-cancelled", shape: "bar", optional: true },
];

const COLUMN_WEIGHTS = [1.0, 0.78, 1.35, 1.0, 1.35, 1.75];
const LANE_OF_STATE = { connecting: 0, limbo: 1, queued: 2, accepted: 3, active: 4 };
const FIRST_BIN = 5;
// Bins count connections; the counters count requests (a keep-alive connection has several).
const CLOSED_CAPTION = "connections, by last request's outcome";
const BACKLOG = 2;
const SLOTS = 4;

/** Which lane a stream row [cid, burst, state, outcome, t_ms] belongs in; -1: nowhere yet. */
export function laneOf(state, outcome) {
  if (state === "closed") {
    // Every closed connection has an outcome (a cut-short one `cancelled`).
    const index = OUTCOMES.indexOf(outcome);
    return index < 0 ? -1 : FIRST_BIN + index;
  }
  const lane = LANE_OF_STATE[state];
  return lane === undefined ? -1 : lane;
}

function nextPowerOfTwo(n) {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

/**
 * Square cells for n items in w×h, as large as they can be but no larger than `cap`;
 * capped cells are laid out in full-width rows, so a few items read as a row, not a column.
 */
function fitCapped(w, h, n, cap) {
  const fit = fitGrid(w, h, n);
  if (fit.cell <= cap) return fit;
  const cols = Math.max(1, Math.min(Math.max(1, n), Math.floor(w / cap)));
  return { cols, rows: Math.ceil(Math.max(1, n) / cols), cell: cap };
}

/** Square cells for n items in w×h, as large as they can be. */
function fitGrid(w, h, n) {
  n = Math.max(1, n);
  if (w <= 0 || h <= 0) return { cols: 1, rows: n, cell: 0 };
  const guess = Math.max(1, Math.round(Math.sqrt((n * w) / h)));
  let best = { cols: 1, rows: n, cell: 0 };
  for (let cols = Math.max(1, guess - 2); cols <= guess + 2; cols++) {
    const rows = Math.ceil(n / cols);
    const cell = Math.min(w / cols, h / rows);
    if (cell > best.cell) best = { cols, rows, cell };
  }
  return best;
}

function easeOutCubic(p) {
  const q = 1 - p;
  return 1 - q * q * q;
}

export class LaneView {
  /**
   * @param {{stage: HTMLElement, canvas: HTMLCanvasElement, overlay: HTMLElement,
   *          onModeChange?: (aggregated: boolean, connections: number) => void}} options
   */
  constructor({ stage, canvas, overlay, onModeChange }) {
    this.stage = stage;
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.staticLayer = document.createElement("canvas");
    this.overlay = overlay;
    this.onModeChange = onModeChange || (() => {});

    this.capacity = 0;
    this.count = 0;
    this.indexOfCid = new Map();
    this.grow(1024);
    this.moving = 0;

    this.laneCounts = new Int32Array(LANES.length);
    this.members = LANES.map(() => []);
    this.dirtyLanes = new Uint8Array(LANES.length);
    this.reflowed = new Uint8Array(LANES.length);
    this.dirtyDots = [];
    this.occupancy = LANES.map(() => new Uint8Array(64));
    this.freeHint = new Int32Array(LANES.length);
    this.laneGeometry = LANES.map(() => null);
    this.columns = [];
    this.binLayoutKey = "";
    this.freeBuckets = new Int32Array(LANES.length);

    this.backlogCapacity = null;
    this.slotCapacity = undefined;
    this.aggregated = false;
    this.highlight = -1;
    this.width = 0;
    this.height = 0;
    this.dpr = 1;
    this.needsDraw = true;
    this.staticDirty = true;
    this.colours = [];
    this.head = HEAD;
    this.cssHead = HEAD;
    this.binHead = BIN_HEAD;
    this.textScale = 1;
    this.dotScale = 1;
    this.fill = false;
    this.binPlan = null;
    this.textDrawn = {};
    this.byEntry = (a, b) => this.tEnter[a] - this.tEnter[b] || this.cidOf[a] - this.cidOf[b];
    this.byCell = (a, b) => this.cell[a] - this.cell[b];

    this.buildOverlay();
    this.readColours();
    this.resize();
    new ResizeObserver(() => this.resize()).observe(stage);
    this.reducedMotion = matchMedia("(prefers-reduced-motion: reduce)");
    this.tick = this.tick.bind(this);
    requestAnimationFrame(this.tick);
  }

  /* ---------- storage: one typed array per field, grown by doubling ---------- */

  grow(capacity) {
    const old = this;
    const typed = (Type, name) => {
      const array = new Type(capacity);
      if (old[name]) array.set(old[name]);
      return array;
    };
    this.cidOf = typed(Int32Array, "cidOf");
    this.lane = typed(Uint8Array, "lane");
    this.tEnter = typed(Float64Array, "tEnter");
    this.t0 = typed(Float64Array, "t0");
    this.cell = typed(Int32Array, "cell");
    // Float64, not Float32: targets are compared with ===, and a rounded copy never matches.
    for (const name of ["x", "y", "r", "fromX", "fromY", "fromR", "toX", "toY", "toR"]) this[name] = typed(Float64Array, name);
    this.capacity = capacity;
  }

  /* ---------- public API ---------- */

  get connections() {
    return this.count;
  }

  /** Accept-queue capacity (null: unknown) and limit_concurrency (null: no limit, undefined: no target). */
  setCapacities(backlog, slots) {
    backlog = backlog == null ? null : Math.max(0, backlog | 0);
    slots = slots === undefined ? undefined : slots === null ? null : Math.max(1, slots | 0);
    if (backlog === this.backlogCapacity && slots === this.slotCapacity) return;
    this.backlogCapacity = backlog;
    this.slotCapacity = slots;
    this.layout();
  }

  reset() {
    this.count = 0;
    this.indexOfCid.clear();
    this.moving = 0;
    this.laneCounts.fill(0);
    for (const list of this.members) list.length = 0;
    for (const occupied of this.occupancy) occupied.fill(0);
    this.freeHint.fill(0);
    this.dirtyDots.length = 0;
    this.highlight = -1;
    this.binLayoutKey = "";
    this.freeBuckets.fill(0);
    this.layout();
    this.setAggregated(false);
    this.updateLabels();
  }

  /** Applies stream rows [cid, burst, state, outcome, t_ms]; `instant` skips the glide (snapshots). */
  applyRows(rows, instant = false) {
    const now = performance.now();
    instant = instant || this.reducedMotion.matches;
    for (const [cid, , state, outcome, tMs] of rows) {
      const lane = laneOf(state, outcome);
      let i = this.indexOfCid.get(cid);
      if (i === undefined) {
        if (lane < 0) continue;
        if (this.count === this.capacity) this.grow(this.capacity * 2);
        i = this.count++;
        this.indexOfCid.set(cid, i);
        this.cidOf[i] = cid;
        this.tEnter[i] = tMs;
        this.t0[i] = -1;
        this.toR[i] = 0; // so its first target starts a grow-in
        this.r[i] = 0;
        this.x[i] = -1; // marks "never placed"
        this.enter(i, lane);
        continue;
      }
      const old = this.lane[i];
      if (lane < 0 || (old === lane && this.tEnter[i] === tMs)) continue;
      this.tEnter[i] = tMs;
      if (old === lane) {
        if (lane === BACKLOG) this.dirtyLanes[lane] = 1;
        continue;
      }
      this.leave(i);
      this.enter(i, lane);
    }
    this.commit(now, instant);
  }

  /*
   * The backlog is a FIFO: a dot's place is its rank in arrival order, so the queue moves
   * forward as its head is accepted. Everywhere else a dot keeps the cell it took on
   * arrival (the lowest free one) until it leaves: a slot is held, not shuffled.
   */
  enter(i, lane) {
    this.lane[i] = lane;
    this.laneCounts[lane]++;
    if (lane === BACKLOG) {
      this.cell[i] = -1;
      this.dirtyLanes[lane] = 1;
      return;
    }
    this.cell[i] = this.takeCell(lane);
    this.dirtyDots.push(i);
  }

  leave(i) {
    const lane = this.lane[i];
    this.laneCounts[lane]--;
    if (lane === BACKLOG) this.dirtyLanes[lane] = 1;
    else this.freeCell(lane, this.cell[i]);
  }

  takeCell(lane) {
    let occupied = this.occupancy[lane];
    let c = occupied.indexOf(0, this.freeHint[lane]);
    if (c < 0) {
      c = occupied.length;
      const bigger = new Uint8Array(occupied.length * 2);
      bigger.set(occupied);
      this.occupancy[lane] = occupied = bigger;
    }
    occupied[c] = 1;
    this.freeHint[lane] = c + 1;
    return c;
  }

  freeCell(lane, c) {
    if (c < 0) return;
    this.occupancy[lane][c] = 0;
    if (c < this.freeHint[lane]) this.freeHint[lane] = c;
  }

  /** Cells a lane's grid must hold: its count, or its highest occupied cell if that is further. */
  cellsNeeded(lane) {
    return Math.max(MIN_FREE_BUCKET, nextPowerOfTwo(Math.max(this.laneCounts[lane], this.occupancy[lane].lastIndexOf(1) + 1)));
  }

  /** After a lane has mostly emptied, moves its remaining dots to the first cells, in order. */
  compact(lane) {
    const list = this.members[lane];
    list.length = 0;
    for (let i = 0; i < this.count; i++) if (this.lane[i] === lane) list.push(i);
    list.sort(this.byCell);
    this.occupancy[lane].fill(0);
    list.forEach((i, c) => {
      this.cell[i] = c;
      this.occupancy[lane][c] = 1;
    });
    this.freeHint[lane] = list.length;
    this.dirtyLanes[lane] = 1;
  }

  /** The connection id of the dot under (x, y) in CSS pixels of the canvas, or null. */
  cidAt(x, y) {
    if (this.aggregated) return null;
    let best = -1;
    let bestDistance = Infinity;
    for (let i = 0; i < this.count; i++) {
      const dx = this.x[i] - x;
      const dy = this.y[i] - y;
      const reach = Math.max(this.r[i], 4) + 4;
      const d = dx * dx + dy * dy;
      if (d < reach * reach && d < bestDistance) {
        best = i;
        bestDistance = d;
      }
    }
    return best < 0 ? null : this.cidOf[best];
  }

  dotPosition(cid) {
    const i = this.indexOfCid.get(cid);
    if (i === undefined || this.aggregated) return null;
    return { x: this.toX[i], y: this.toY[i], r: Math.max(this.toR[i], 3) };
  }

  laneKeyOf(cid) {
    const i = this.indexOfCid.get(cid);
    return i === undefined ? null : LANES[this.lane[i]].key;
  }

  /** The next (dir 1) or previous (dir -1) connection in arrival order, for keyboard stepping. */
  neighbour(cid, dir) {
    if (!this.count || this.aggregated) return null;
    const i = cid == null ? undefined : this.indexOfCid.get(cid);
    const start = i === undefined ? (dir > 0 ? -1 : this.count) : i;
    const next = (start + dir + this.count) % this.count;
    return this.cidOf[next];
  }

  select(cid) {
    const i = cid == null ? -1 : this.indexOfCid.get(cid) ?? -1;
    if (i !== this.highlight) {
      this.highlight = i;
      this.needsDraw = true;
    }
  }

  /**
   * What is drawn, in CSS pixels of the canvas: each lane's area, its cells and dot radius,
   * the text drawn on the canvas. For tests and the console; nothing reads it back.
   */
  describe() {
    const lanes = {};
    LANES.forEach((def, lane) => {
      const g = this.laneGeometry[lane];
      if (!g) return;
      let dot = 0;
      for (let i = 0; i < this.count; i++) if (this.lane[i] === lane) dot = Math.max(dot, this.toR[i]);
      lanes[def.key] = {
        kind: g.kind,
        area: lane < FIRST_BIN ? this.laneInner(lane) : { ...g.box },
        cell: g.cell,
        cols: g.cols,
        rows: g.kind === "places" ? Math.ceil(g.places / g.cols) : null,
        places: g.places ?? null,
        extra: g.extra ? { x: g.extra.x, y: g.extra.y, size: g.extra.size } : null,
        boxes: g.kind === "places" ? Array.from({ length: Math.min(g.places, 64) }, (_, k) => {
          const point = { x: 0, y: 0, r: 0 };
          positionIn(g, k, point);
          return { x: point.x, y: point.y };
        }) : [],
        dotRadius: dot,
        count: this.laneCounts[lane],
      };
    });
    return { width: this.width, height: this.height, head: this.head, binHead: this.binHead, lanes, text: { ...this.textDrawn } };
  }

  /**
   * A replay knows each outcome's final tally: its bins are laid out for it from the start,
   * so they never reflow while it plays. `counts` maps outcome (or "unfinished") to a count.
   */
  planBins(counts) {
    this.binPlan = counts ? LANES.map((def) => counts[def.outcome ?? (def.kind === "bin" ? "unfinished" : "")] ?? 0) : null;
    this.binLayoutKey = "";
    this.layout(true);
  }

  /* ---------- layout ---------- */

  resize() {
    const rect = this.stage.getBoundingClientRect();
    const width = Math.max(320, Math.floor(rect.width));
    const height = Math.max(240, Math.floor(rect.height));
    const dpr = Math.min(2, window.devicePixelRatio || 1);
    if (width === this.width && height === this.height && dpr === this.dpr) return;
    this.width = width;
    this.height = height;
    this.dpr = dpr;
    for (const canvas of [this.canvas, this.staticLayer]) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    this.canvas.style.width = width + "px";
    this.canvas.style.height = height + "px";
    this.layout(true);
  }

  /** Recomputes every lane's geometry and re-places every dot. */
  layout(instant = false) {
    const usable = this.width - 2 * PAD - GUTTER * (COLUMN_WEIGHTS.length - 1);
    const total = COLUMN_WEIGHTS.reduce((a, b) => a + b, 0);
    let x = PAD;
    this.columns = COLUMN_WEIGHTS.map((weight) => {
      const w = (usable * weight) / total;
      const column = { x, y: PAD, w, h: this.height - 2 * PAD };
      x += w + GUTTER;
      return column;
    });
    this.binLayoutKey = "";
    this.freeBuckets.fill(0);
    this.fitHeads();
    for (let lane = 0; lane < FIRST_BIN; lane++) this.layoutLane(lane);
    this.layoutBins();
    this.dirtyLanes.fill(1);
    this.positionLabels();
    this.staticDirty = this.needsDraw = true;
    this.commit(performance.now(), instant);
  }

  laneInner(lane) {
    const c = this.columns[LANES[lane].column];
    return { x: c.x + 8, y: c.y + this.head, w: c.w - 16, h: c.h - this.head - 8 };
  }

  layoutLane(lane) {
    const def = LANES[lane];
    const area = this.laneInner(lane);
    const places = lane === BACKLOG ? this.backlogCapacity : lane === SLOTS ? this.slotCapacity : null;
    if (def.kind === "places" && places) {
      this.laneGeometry[lane] = placesGeometry(area, places, lane === BACKLOG, this.textScale, this.fill);
    } else {
      const bucket = this.cellsNeeded(lane);
      this.freeBuckets[lane] = bucket;
      const room = def.kind === "places" ? 26 * this.textScale : 0;
      this.laneGeometry[lane] = freeGeometry(area, bucket, room, false, MAX_DOT_CELL * this.dotScale);
    }
  }

  /*
   * Outcome bins share one column; a bin's height follows its count rounded up to a power
   * of two, so the bins stay still while counts grow and only reflow at doublings.
   */
  layoutBins() {
    const column = this.columns[5];
    // A planned bin (a replay knows its final tally) is laid out for its final count at once.
    const planned = (lane) => Math.max(this.laneCounts[lane], this.binPlan?.[lane] ?? 0);
    const visible = [];
    for (let lane = FIRST_BIN; lane < LANES.length; lane++) {
      if (!LANES[lane].optional || planned(lane) > 0) visible.push(lane);
    }
    // sqrt: a bin of 9 next to one of 900 still gets room to show its dots.
    const weights = visible.map((lane) => (planned(lane) ? Math.sqrt(nextPowerOfTwo(planned(lane))) : 0));
    const buckets = visible.map((lane) => Math.max(this.cellsNeeded(lane), nextPowerOfTwo(planned(lane))));
    const key = `${visible}|${weights}|${buckets}|${column.h}|${this.head}|${this.binHead}`;
    if (key === this.binLayoutKey) return false;
    this.binLayoutKey = key;
    const top = column.y + this.head;
    const available = column.h - this.head - BIN_GAP * (visible.length - 1);
    const binHead = this.binHead;
    // Room for a row of dots at their presenter size, unless the column is too short for it.
    const wanted = weights.map((w) => binHead + (w ? BIN_MIN_DOTS * this.dotScale : 2));
    const minimums = wanted.reduce((a, b) => a + b, 0) <= available
      ? wanted
      : weights.map((w) => binHead + (w ? BIN_MIN_DOTS : 2));
    const spare = Math.max(0, available - minimums.reduce((a, b) => a + b, 0));
    const weightSum = weights.reduce((a, b) => a + b, 0);
    let y = top;
    for (let lane = FIRST_BIN; lane < LANES.length; lane++) this.laneGeometry[lane] = null;
    visible.forEach((lane, k) => {
      const share = weightSum ? (spare * weights[k]) / weightSum : spare / visible.length;
      const h = minimums[k] + share;
      const box = { x: column.x, y, w: column.w, h };
      const area = { x: box.x + 6, y: box.y + binHead, w: box.w - 12, h: h - binHead - 3 };
      const bucket = buckets[k];
      this.freeBuckets[lane] = bucket;
      // Left-aligned: a bin reads like a tally.
      this.laneGeometry[lane] = { ...freeGeometry(area, bucket, 0, true, MAX_DOT_CELL * this.dotScale), box };
      this.dirtyLanes[lane] = 1;
      this.reflowed[lane] = 1;
      y += h + BIN_GAP;
    });
    return true;
  }

  commit(now, instant) {
    for (let lane = 0; lane < LANES.length; lane++) {
      const geometry = this.laneGeometry[lane];
      if (geometry && geometry.kind !== "free") continue;
      // A grid four times too big for what is left: tighten it.
      const bucket = this.freeBuckets[lane];
      const sparse = bucket > MIN_FREE_BUCKET && nextPowerOfTwo(this.laneCounts[lane]) * 4 <= bucket;
      if (sparse && lane !== BACKLOG) this.compact(lane);
      if (lane < FIRST_BIN && this.cellsNeeded(lane) !== bucket) {
        this.layoutLane(lane);
        this.dirtyLanes[lane] = 1;
      }
    }
    if (this.layoutBins()) {
      this.positionLabels();
      this.staticDirty = true;
    }
    this.setAggregated(this.count > MAX_DOTS);
    if (!this.aggregated) this.place(now, instant);
    this.dirtyLanes.fill(0);
    this.reflowed.fill(0);
    this.dirtyDots.length = 0;
    this.updateLabels();
    this.needsDraw = true;
  }

  /** Gives new targets to the dots that moved, and to every dot of a lane whose layout changed. */
  place(now, instant) {
    const point = { x: 0, y: 0, r: 0 };
    for (const i of this.dirtyDots) {
      const lane = this.lane[i];
      const geometry = this.laneGeometry[lane];
      if (this.dirtyLanes[lane] || !geometry) continue;
      positionIn(geometry, this.cell[i], point);
      this.retarget(i, point.x, point.y, point.r, now, instant, geometry);
    }
    let any = false;
    for (let lane = 0; lane < LANES.length; lane++) {
      if (this.dirtyLanes[lane]) {
        this.members[lane].length = 0;
        any = true;
      }
    }
    if (!any) return;
    for (let i = 0; i < this.count; i++) {
      if (this.dirtyLanes[this.lane[i]]) this.members[this.lane[i]].push(i);
    }
    // A bin that was laid out again has its boxes redrawn at once: its resting dots go with
    // them at once too, or for a glide they would be drawn inside a neighbouring bin.
    const arrived = this.reflowed.some(Boolean) ? new Set(this.dirtyDots) : null;
    for (let lane = 0; lane < LANES.length; lane++) {
      if (!this.dirtyLanes[lane]) continue;
      const list = this.members[lane];
      const geometry = this.laneGeometry[lane];
      if (!geometry) continue;
      if (lane === BACKLOG) list.sort(this.byEntry);
      const reflowed = this.reflowed[lane] === 1;
      for (let rank = 0; rank < list.length; rank++) {
        const i = list[rank];
        positionIn(geometry, lane === BACKLOG ? rank : this.cell[i], point);
        const snap = instant || (reflowed && this.t0[i] < 0 && !arrived.has(i));
        this.retarget(i, point.x, point.y, point.r, now, snap, geometry);
      }
    }
  }

  retarget(i, x, y, r, now, instant, geometry) {
    if (this.x[i] < 0 && !instant) {
      // A new connection slides in from its lane's left edge.
      this.x[i] = geometry.box ? geometry.box.x : geometry.left;
      this.y[i] = y;
      this.r[i] = 0;
    }
    if (instant || this.x[i] < 0) {
      if (this.t0[i] >= 0) this.moving--;
      this.t0[i] = -1;
      this.x[i] = this.toX[i] = x;
      this.y[i] = this.toY[i] = y;
      this.r[i] = this.toR[i] = r;
      return;
    }
    if (this.toX[i] === x && this.toY[i] === y && this.toR[i] === r) return;
    this.fromX[i] = this.x[i];
    this.fromY[i] = this.y[i];
    this.fromR[i] = this.r[i];
    this.toX[i] = x;
    this.toY[i] = y;
    this.toR[i] = r;
    if (this.t0[i] < 0) this.moving++;
    this.t0[i] = now;
  }

  setAggregated(aggregated) {
    if (aggregated === this.aggregated) {
      if (aggregated) this.onModeChange(true, this.count);
      return;
    }
    this.aggregated = aggregated;
    this.stage.dataset.aggregated = aggregated ? "true" : "false";
    if (!aggregated) this.dirtyLanes.fill(1);
    this.onModeChange(aggregated, this.count);
  }

  /* ---------- HTML lane headers ---------- */

  buildOverlay() {
    this.overlay.textContent = "";
    this.heads = [];
    this.labels = [];
    const make = (tag, className, parent, text) => {
      const el = document.createElement(tag);
      if (className) el.className = className;
      if (text != null) el.textContent = text;
      parent.appendChild(el);
      return el;
    };
    const head = (key, name, colour, caption) => {
      const box = make("div", "lane-head", this.overlay);
      box.dataset.for = key;
      box.style.setProperty("--lane-colour", `var(${colour})`);
      make("div", "lane-name", box, name);
      const row = make("div", "lane-count-row", box);
      const label = make("div", "lane-label", row, "0");
      label.dataset.lane = key;
      box.caption = make("div", "lane-caption", box, caption);
      this.heads.push(box);
      return label;
    };
    for (let lane = 0; lane < FIRST_BIN; lane++) {
      const def = LANES[lane];
      const label = head(def.key, def.label, def.colour, def.caption);
      label.dataset.state = def.state;
      this.labels.push(label);
    }
    this.closedLabel = head("closed", "closed", "--closed", CLOSED_CAPTION);
    this.closedLabel.dataset.state = "closed";
    for (let lane = FIRST_BIN; lane < LANES.length; lane++) {
      const def = LANES[lane];
      const label = make("div", "lane-label lane-label--bin", this.overlay, "0");
      label.dataset.lane = def.key;
      label.dataset.outcome = def.outcome ?? "";
      label.dataset.label = `${def.glyph} ${def.label}`;
      label.style.setProperty("--lane-colour", `var(${def.colour})`);
      this.labels.push(label);
    }
    this.shownCounts = new Int32Array(LANES.length + 1).fill(-1);
  }

  /**
   * Places the lane headers and makes the band above the lanes as tall as the tallest of
   * them (at least --lane-head): large type in presenter mode never runs into the boxes.
   */
  fitHeads() {
    this.positionHeads();
    const tallest = Math.max(0, ...this.heads.map((head) => head.offsetHeight));
    this.head = Math.max(this.cssHead, Math.ceil(tallest) + 12);
    const binLabel = this.labels[FIRST_BIN];
    this.binHead = Math.max(BIN_HEAD, Math.ceil(binLabel.offsetHeight) + 6);
  }

  positionHeads() {
    this.heads.forEach((head, k) => {
      const column = this.columns[Math.min(k, 5)];
      head.style.transform = `translate(${column.x + 7}px, ${column.y + 5}px)`;
      head.style.width = `${column.w - 14}px`;
    });
    this.heads[BACKLOG].caption.textContent =
      this.backlogCapacity == null ? "kernel accept queue" : `accept queue: ${this.backlogCapacity} places + 1`;
    this.heads[SLOTS].caption.textContent =
      this.slotCapacity === undefined
        ? LANES[SLOTS].caption
        : this.slotCapacity === null
          ? "in the app: no limit"
          : `in the app: ${this.slotCapacity} places`;
  }

  positionLabels() {
    if (!this.columns.length) return;
    this.positionHeads();
    for (let lane = FIRST_BIN; lane < LANES.length; lane++) {
      const label = this.labels[lane];
      const geometry = this.laneGeometry[lane];
      label.hidden = !geometry;
      if (!geometry) continue;
      label.style.transform = `translate(${geometry.box.x + 8}px, ${geometry.box.y + 2}px)`;
      label.style.width = `${geometry.box.w - 14}px`;
    }
    const backlog = this.labels[BACKLOG];
    const slots = this.labels[SLOTS];
    backlog.dataset.capacity = this.backlogCapacity ?? "";
    backlog.dataset.extra = this.backlogCapacity ? "1" : "0";
    slots.dataset.capacity = this.slotCapacity ?? "";
  }

  /** What the outcome bins add up (e.g. "2 bursts since the target started"); null: the default caption. */
  setScope(text) {
    const caption = text ? `connections by outcome · ${text}` : CLOSED_CAPTION;
    const box = this.heads[FIRST_BIN];
    if (box.caption.textContent === caption) return;
    box.caption.textContent = caption;
    // A caption that now takes another line needs a taller band.
    const head = this.head;
    this.fitHeads();
    if (this.head !== head) this.layout(true);
  }

  updateLabels() {
    for (let lane = 0; lane < LANES.length; lane++) {
      const n = this.laneCounts[lane];
      if (n !== this.shownCounts[lane]) {
        this.shownCounts[lane] = n;
        this.labels[lane].textContent = String(n);
        this.labels[lane].classList.toggle("is-empty", n === 0);
      }
    }
    let closed = 0;
    for (let lane = FIRST_BIN; lane < LANES.length; lane++) closed += this.laneCounts[lane];
    if (closed !== this.shownCounts[LANES.length]) {
      this.shownCounts[LANES.length] = closed;
      this.closedLabel.textContent = String(closed);
    }
  }

  /* ---------- drawing ---------- */

  readColours() {
    const style = getComputedStyle(this.stage);
    const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
    this.colours = LANES.map((def) => read(def.colour, "#ccc"));
    this.theme = {
      lane: read("--lane-bg", "rgba(255,255,255,0.04)"),
      laneBorder: read("--lane-border", "rgba(255,255,255,0.12)"),
      place: read("--place", "rgba(255,255,255,0.22)"),
      placeFill: read("--place-fill", "rgba(255,255,255,0.08)"),
      extra: read("--extra-place", "#f2cc60"),
      muted: read("--muted", "#9aa4b2"),
      text: read("--text", "#e6edf3"),
      highlight: read("--highlight", "#ffffff"),
      pill: read("--bg", "#0b0f14"),
      font: read("--font-ui", "system-ui, sans-serif"),
    };
    // Presenter mode enlarges the text drawn on the canvas, the dots and the band for the lane
    // headers, and lets the places' boxes fill their lanes.
    const scale = parseFloat(read("--canvas-text-scale", "1")) || 1;
    const dots = parseFloat(read("--canvas-dot-scale", "1")) || 1;
    const fill = read("--lane-fill", "0") === "1";
    const head = parseFloat(read("--lane-head", String(HEAD))) || HEAD;
    if (scale !== this.textScale || dots !== this.dotScale || fill !== this.fill || head !== this.cssHead) {
      this.textScale = scale;
      this.dotScale = dots;
      this.fill = fill;
      this.cssHead = head;
    }
    // The headers' type may have changed too: always fit the band again.
    if (this.width) this.layout(true);
    this.staticDirty = this.needsDraw = true;
  }

  tick(now) {
    requestAnimationFrame(this.tick);
    if (this.moving > 0) this.advance(now);
    else if (!this.needsDraw) return;
    this.needsDraw = false;
    this.draw();
  }

  advance(now) {
    for (let i = 0; i < this.count; i++) {
      const t0 = this.t0[i];
      if (t0 < 0) continue;
      const p = (now - t0) / GLIDE_MS;
      if (p >= 1) {
        this.x[i] = this.toX[i];
        this.y[i] = this.toY[i];
        this.r[i] = this.toR[i];
        this.t0[i] = -1;
        this.moving--;
        continue;
      }
      const e = easeOutCubic(Math.max(0, p));
      this.x[i] = this.fromX[i] + (this.toX[i] - this.fromX[i]) * e;
      this.y[i] = this.fromY[i] + (this.toY[i] - this.fromY[i]) * e;
      this.r[i] = this.fromR[i] + (this.toR[i] - this.fromR[i]) * e;
    }
  }

  draw() {
    const ctx = this.ctx;
    if (this.staticDirty) this.drawStatic();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.drawImage(this.staticLayer, 0, 0);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    if (this.aggregated) this.drawAggregate(ctx);
    else this.drawDots(ctx);
  }

  drawDots(ctx) {
    for (let lane = 0; lane < LANES.length; lane++) {
      if (!this.laneCounts[lane]) continue;
      const shape = LANES[lane].shape;
      ctx.beginPath();
      for (let i = 0; i < this.count; i++) {
        if (this.lane[i] === lane) addShape(ctx, shape, this.x[i], this.y[i], this.r[i]);
      }
      ctx.fillStyle = this.colours[lane];
      ctx.fill();
    }
    const h = this.highlight;
    if (h >= 0 && h < this.count) {
      ctx.beginPath();
      ctx.arc(this.x[h], this.y[h], Math.max(this.r[h], 3) + 4, 0, Math.PI * 2);
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = this.theme.highlight;
      ctx.stroke();
    }
  }

  /** Above MAX_DOTS: counts per lane; the places lanes still fill box by box. */
  drawAggregate(ctx) {
    const font = this.theme.font;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    let closed = 0;
    for (let lane = FIRST_BIN; lane < LANES.length; lane++) closed += this.laneCounts[lane];
    for (let lane = 0; lane < LANES.length; lane++) {
      const geometry = this.laneGeometry[lane];
      if (!geometry) continue;
      const n = this.laneCounts[lane];
      ctx.fillStyle = this.colours[lane];
      if (geometry.kind === "places") {
        ctx.beginPath();
        const point = { x: 0, y: 0, r: 0 };
        const half = geometry.cell / 2 - (geometry.cell >= 7 ? 2 : 0.5);
        const shown = Math.min(n, geometry.places + (geometry.extra ? 1 : 0));
        for (let rank = 0; rank < shown; rank++) {
          positionIn(geometry, rank, point);
          ctx.rect(point.x - half, point.y - half, half * 2, half * 2);
        }
        ctx.fill();
        if (n > shown) {
          // More than the places hold (the witnesses are a sample apart): say how many.
          const text = `+${n - shown} over`;
          const size = Math.round(14 * this.textScale);
          ctx.font = `700 ${size}px ${font}`;
          const w = ctx.measureText(text).width + 12;
          const x = geometry.overflow.x - w;
          const y = geometry.overflow.y - 4;
          ctx.fillStyle = this.theme.pill;
          ctx.fillRect(x, y, w, size + 6);
          ctx.fillStyle = this.colours[lane];
          ctx.textAlign = "left";
          ctx.fillText(text, x + 6, y + (size + 6) / 2);
          ctx.textAlign = "center";
        }
        continue;
      }
      const box = geometry.box || { x: geometry.left, y: geometry.top, w: geometry.width, h: geometry.height };
      if (geometry.box) {
        // The bin's share of all closed connections, as a bar under its label.
        const share = closed ? n / closed : 0;
        const barHeight = Math.min(12 * this.dotScale, box.h - this.binHead - 4);
        ctx.fillRect(box.x + 8, box.y + this.binHead, Math.max(n ? 2 : 0, (box.w - 16) * share), barHeight);
        continue;
      }
      if (!n) continue;
      const size = Math.min(40 * this.textScale, box.w / 3.2);
      ctx.font = `700 ${size}px ${font}`;
      ctx.fillText(String(n), box.x + box.w / 2, box.y + box.h / 2);
    }
  }

  drawStatic() {
    this.staticDirty = false;
    const ctx = this.staticLayer.getContext("2d");
    const theme = this.theme;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.staticLayer.width, this.staticLayer.height);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    this.textDrawn = {};

    ctx.lineWidth = 1;
    ctx.fillStyle = theme.lane;
    ctx.strokeStyle = theme.laneBorder;
    for (let k = 0; k < this.columns.length - 1; k++) {
      const c = this.columns[k];
      roundRect(ctx, c.x, c.y, c.w, c.h, 10);
      ctx.fill();
      ctx.stroke();
    }
    for (let lane = FIRST_BIN; lane < LANES.length; lane++) {
      const geometry = this.laneGeometry[lane];
      if (!geometry) continue;
      const b = geometry.box;
      roundRect(ctx, b.x, b.y, b.w, b.h, 8);
      ctx.fillStyle = theme.lane;
      ctx.fill();
      ctx.strokeStyle = theme.laneBorder;
      ctx.stroke();
      // A strip of the outcome's colour: a second cue next to the glyph and the label.
      ctx.fillStyle = this.colours[lane];
      ctx.fillRect(b.x, b.y + 6, 3, b.h - 12);
    }

    // Arrows in the gutters: the direction of travel.
    ctx.strokeStyle = theme.muted;
    ctx.lineWidth = 2;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (let k = 0; k < this.columns.length - 1; k++) {
      const c = this.columns[k];
      const x = c.x + c.w + GUTTER / 2;
      const y = c.y + c.h / 2;
      ctx.beginPath();
      ctx.moveTo(x - 3, y - 6);
      ctx.lineTo(x + 3, y);
      ctx.lineTo(x - 3, y + 6);
      ctx.stroke();
    }

    for (const lane of [BACKLOG, SLOTS]) {
      const geometry = this.laneGeometry[lane];
      if (geometry.kind === "places") this.drawPlaces(ctx, geometry);
      else if (lane === SLOTS && this.slotCapacity === null) {
        ctx.fillStyle = theme.muted;
        ctx.globalAlpha = 0.5;
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        ctx.font = `600 ${Math.round(15 * this.textScale)}px ${theme.font}`;
        this.textDrawn.noLimit = { text: "no limit", px: Math.round(15 * this.textScale) };
        ctx.fillText("no limit", geometry.left + geometry.width / 2, geometry.top + geometry.height - 14 * this.textScale);
        ctx.globalAlpha = 1;
      }
    }
  }

  drawPlaces(ctx, geometry) {
    const theme = this.theme;
    const cell = geometry.cell;
    const point = { x: 0, y: 0, r: 0 };
    ctx.beginPath();
    if (cell >= 7) {
      // Large boxes (presenter mode) keep a visible gap between them.
      const half = cell / 2 - Math.max(1.5, cell * 0.04);
      for (let k = 0; k < geometry.places; k++) {
        positionIn(geometry, k, point);
        ctx.rect(point.x - half, point.y - half, half * 2, half * 2);
      }
      ctx.strokeStyle = theme.place;
      ctx.lineWidth = 1.25;
      ctx.stroke();
    } else {
      // Too many places for outlines: a compact grid of faint cells.
      const half = Math.max(0.5, cell / 2 - 0.5);
      for (let k = 0; k < geometry.places; k++) {
        positionIn(geometry, k, point);
        ctx.rect(point.x - half, point.y - half, half * 2, half * 2);
      }
      ctx.fillStyle = theme.placeFill;
      ctx.fill();
    }
    if (geometry.extra) {
      const e = geometry.extra;
      ctx.setLineDash(e.size > 40 ? [10, 6] : [4, 3]);
      ctx.strokeStyle = theme.extra;
      ctx.lineWidth = e.size > 40 ? 3 : 1.75;
      ctx.strokeRect(e.x - e.size / 2 + 1, e.y - e.size / 2 + 1, e.size - 2, e.size - 2);
      ctx.setLineDash([]);
      // Its label, right of the box and inside the lane: the longest wording that fits.
      const size = Math.round(13 * this.textScale);
      const x = e.x + e.size / 2 + 6;
      const room = geometry.right - x - 2;
      ctx.fillStyle = theme.text;
      ctx.textAlign = "left";
      ctx.textBaseline = "middle";
      ctx.font = `600 ${size}px ${theme.font}`;
      const fits = (text) => ctx.measureText(text).width <= room;
      let drawn = "";
      if (fits("+1 extra (Linux)")) ctx.fillText((drawn = "+1 extra (Linux)"), x, e.y);
      else if (fits("+1 extra") && fits("(Linux)") && e.rowHeight >= 2 * size + 2) {
        ctx.fillText("+1 extra", x, e.y - size / 2 - 1);
        ctx.fillText("(Linux)", x, e.y + size / 2 + 1);
        drawn = "+1 extra\n(Linux)";
      } else if (fits("+1 extra")) ctx.fillText((drawn = "+1 extra"), x, e.y);
      else if (fits("+1")) ctx.fillText((drawn = "+1"), x, e.y);
      this.textDrawn.extra = { text: drawn, px: size };
    }
  }
}

/* ---------- geometry ---------- */

/**
 * A grid of `bucket` cells filled top-down, leaving `room` at the bottom (for "no limit");
 * dots are capped in size (`cap`) so a few don't look huge.
 */
function freeGeometry(area, bucket, room, alignLeft, cap) {
  const fit = fitCapped(area.w, area.h - room, bucket, cap);
  const cell = fit.cell;
  const width = cell * fit.cols;
  return {
    kind: "free",
    cols: fit.cols,
    cell,
    r: Math.max(0.8, cell * 0.38),
    left: area.x,
    top: area.y,
    width: area.w,
    height: area.h,
    originX: area.x + (alignLeft ? 0 : Math.max(0, (area.w - width) / 2)),
    originY: area.y + 2,
  };
}

/*
 * One box per place, filled bottom-up like a tank (rank 0, the oldest, at the bottom).
 * Above the boxes sits one row for the backlog's extra place (Linux queues capacity + 1)
 * and for any connection beyond that. With `fill` (presenter mode) the boxes are as large
 * as the lane allows, and the extra place is one more box of the same size.
 */
function placesGeometry(area, places, extra, scale = 1, fill = false) {
  let top = Math.round(30 * Math.max(1, scale));
  let fit;
  let overflowCell = 12;
  if (fill && places <= 256) {
    const strip = Math.round(16 * Math.max(1, scale));
    // Beside the extra place stays room for its label.
    fit = fitPlaces(area.w, area.h - strip, places, extra ? 1 : 0, extra ? area.w * 0.5 : area.w);
    if (extra) top = Math.floor(fit.cell);
    overflowCell = strip;
  } else {
    fit = fitCapped(area.w, area.h - top, places, MAX_PLACE_CELL);
  }
  const cell = fit.cell;
  const width = cell * fit.cols;
  const rows = Math.ceil(places / fit.cols);
  // Filling boxes keep to the left, so the extra place's label has the room on their right.
  const originX = area.x + (fill && extra ? 2 : Math.max(0, (area.w - width) / 2));
  const bottom = area.y + area.h;
  const gridTop = bottom - rows * cell;
  const extraSize = fill ? Math.max(14, cell) : Math.max(14, Math.min(24, cell));
  // The extra place sits on top of the boxes, level with their left edge: one more place.
  const extraX = Math.max(area.x + extraSize / 2 + 1, originX + extraSize / 2);
  const extraY = Math.max(area.y + top / 2, gridTop - top / 2);
  return {
    kind: "places",
    places,
    left: area.x,
    cols: fit.cols,
    cell,
    r: Math.max(0.8, cell * (cell >= 7 ? 0.3 : 0.42)),
    originX,
    bottom,
    gridTop,
    right: area.x + area.w,
    extra: extra ? { x: extraX, y: extraY, size: extraSize, rowHeight: top } : null,
    overflow: { x: area.x + area.w, y: area.y + 6, cell: Math.min(extraSize, overflowCell) },
  };
}

/** The largest square cells for n places in w×h with `extraRows` more rows on top, at most `cap`. */
function fitPlaces(w, h, n, extraRows, cap) {
  let best = { cols: 1, rows: n, cell: 0 };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const cell = Math.min(w / cols, h / (rows + extraRows), cap);
    if (cell > best.cell + 1e-9) best = { cols, rows, cell };
  }
  return best;
}

function positionIn(geometry, rank, out) {
  if (geometry.kind === "free") {
    out.x = geometry.originX + ((rank % geometry.cols) + 0.5) * geometry.cell;
    out.y = geometry.originY + (Math.floor(rank / geometry.cols) + 0.5) * geometry.cell;
    out.r = geometry.r;
    return;
  }
  if (rank < geometry.places) {
    out.x = geometry.originX + ((rank % geometry.cols) + 0.5) * geometry.cell;
    out.y = geometry.bottom - (Math.floor(rank / geometry.cols) + 0.5) * geometry.cell;
    out.r = geometry.r;
    return;
  }
  let beyond = rank - geometry.places;
  if (geometry.extra && beyond === 0) {
    out.x = geometry.extra.x;
    out.y = geometry.extra.y;
    out.r = Math.max(geometry.r, geometry.extra.size * 0.3);
    return;
  }
  if (geometry.extra) beyond -= 1;
  // More than the places hold (witnesses a sample apart): lined up right to left on top.
  const o = geometry.overflow;
  const perRow = 8;
  out.x = o.x - ((beyond % perRow) + 0.5) * o.cell;
  out.y = o.y + Math.floor(beyond / perRow) * o.cell;
  out.r = o.cell * 0.36;
}

function roundRect(ctx, x, y, w, h, r) {
  ctx.beginPath();
  ctx.roundRect(x + 0.5, y + 0.5, w - 1, h - 1, r);
}

const SQRT1_2 = Math.SQRT1_2;

function addShape(ctx, shape, x, y, r) {
  if (r < 1.8) {
    const s = Math.max(r, 0.8);
    ctx.rect(x - s, y - s, s * 2, s * 2);
    return;
  }
  switch (shape) {
    case "square": {
      const s = r * 0.88;
      ctx.rect(x - s, y - s, s * 2, s * 2);
      return;
    }
    case "triangle": {
      const s = r * 1.2;
      ctx.moveTo(x, y - s);
      ctx.lineTo(x + s * 0.866, y + s * 0.5);
      ctx.lineTo(x - s * 0.866, y + s * 0.5);
      ctx.closePath();
      return;
    }
    case "diamond": {
      const s = r * 1.18;
      ctx.moveTo(x, y - s);
      ctx.lineTo(x + s, y);
      ctx.lineTo(x, y + s);
      ctx.lineTo(x - s, y);
      ctx.closePath();
      return;
    }
    case "cross": {
      // Two bars along the diagonals, wound the same way so their union fills.
      const l = r * 1.15;
      const w = Math.max(0.9, r * 0.34);
      const ux = l * SQRT1_2, uy = l * SQRT1_2; // along (1, 1)
      const nx = -w * SQRT1_2, ny = w * SQRT1_2; // across it
      ctx.moveTo(x - ux - nx, y - uy - ny);
      ctx.lineTo(x + ux - nx, y + uy - ny);
      ctx.lineTo(x + ux + nx, y + uy + ny);
      ctx.lineTo(x - ux + nx, y - uy + ny);
      ctx.closePath();
      const vx = -l * SQRT1_2, vy = l * SQRT1_2; // along (-1, 1)
      const mx = -w * SQRT1_2, my = -w * SQRT1_2; // across it
      ctx.moveTo(x - vx - mx, y - vy - my);
      ctx.lineTo(x + vx - mx, y + vy - my);
      ctx.lineTo(x + vx + mx, y + vy + my);
      ctx.lineTo(x - vx + mx, y - vy + my);
      ctx.closePath();
      return;
    }
    case "bar": {
      const w = r * 1.1;
      const h = Math.max(1, r * 0.5);
      ctx.rect(x - w, y - h, w * 2, h * 2);
      return;
    }
    case "ring": {
      // Outer circle one way, inner the other: the hole survives a nonzero fill.
      ctx.moveTo(x + r, y);
      ctx.arc(x, y, r, 0, Math.PI * 2);
      const inner = r * 0.5;
      ctx.moveTo(x + inner, y);
      ctx.arc(x, y, inner, 0, Math.PI * 2, true);
      return;
    }
    default:
      ctx.moveTo(x + r, y);
      ctx.arc(x, y, r, 0, Math.PI * 2);
  }
}
