/*
 * The live view: one dot per connection, in lanes left to right (lane-table.js).
 * A small canvas renderer of our own; the lane headers are HTML over the canvas so they
 * stay crisp, readable by screen readers, and testable ([data-lane]).
 */

import { BACKLOG, FIRST_BIN, LANES, MAX_DOTS, SLOTS, laneOf } from "./lane-table.js";
import { BIN_HEAD, HEAD, MIN_FREE_BUCKET, nextPowerOfTwo, positionIn } from "./lane-geometry.js";
import { LaneDrawing } from "./lane-draw.js";

export { LANES, MAX_DOTS, laneOf };

/*
 * The view's state: one typed array per field, a slot per connection. Its layers, each a
 * concern of its own, are the classes it extends: LaneLayout (lane-layout.js) → LaneLabels
 * (lane-labels.js) → LaneDrawing (lane-draw.js).
 */
export class LaneView extends LaneDrawing {
  /**
   * @param {{stage: HTMLElement, canvas: HTMLCanvasElement, overlay: HTMLElement,
   *          onModeChange?: (aggregated: boolean, connections: number) => void}} options
   */
  constructor({ stage, canvas, overlay, onModeChange }) {
    super();
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
    this.workers = 1;
    this.workerPids = [];
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
    this.workerOf = typed(Int32Array, "workerOf");
    // Float64, not Float32: targets are compared with ===, and a rounded copy never matches.
    for (const name of ["x", "y", "r", "fromX", "fromY", "fromR", "toX", "toY", "toR"]) this[name] = typed(Float64Array, name);
    this.capacity = capacity;
  }

  /* ---------- public API ---------- */

  get connections() {
    return this.count;
  }

  /**
   * Accept-queue capacity (null: unknown) and limit_concurrency (null: no limit, undefined:
   * no target), which uvicorn applies per worker process: `workers` groups of slots, in the
   * order of `workerPids` (the target's, as the stream's rows name them).
   */
  setCapacities(backlog, slots, workers = 1, workerPids = []) {
    backlog = backlog == null ? null : Math.max(0, backlog | 0);
    slots = slots === undefined ? undefined : slots === null ? null : Math.max(1, slots | 0);
    workers = Math.max(1, workers | 0);
    const pids = [...workerPids].sort((a, b) => a - b);
    const samePids = pids.length === this.workerPids.length && pids.every((p, k) => p === this.workerPids[k]);
    if (!samePids) {
      this.workerPids = pids;
      this.updateWorkerLabels?.();
    }
    if (backlog === this.backlogCapacity && slots === this.slotCapacity && workers === this.workers) return;
    this.backlogCapacity = backlog;
    this.slotCapacity = slots;
    this.workers = workers;
    this.layout();
  }

  /** Which group of slots a worker's pid has: its place among the target's workers. */
  workerGroup(pid) {
    if (!pid) return -1;
    let k = this.workerPids.indexOf(pid);
    if (k < 0) {
      // A worker started in place of one that exited: known from its rows alone, and named
      // on its group's label from now on.
      this.workerPids.push(pid);
      k = this.workerPids.length - 1;
      this.updateWorkerLabels?.();
    }
    return k % this.workers;
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
    for (const [cid, , state, outcome, tMs, worker] of rows) {
      const lane = laneOf(state, outcome);
      let i = this.indexOfCid.get(cid);
      if (i !== undefined && worker) this.workerOf[i] = worker;
      if (i === undefined) {
        if (lane < 0) continue;
        if (this.count === this.capacity) this.grow(this.capacity * 2);
        i = this.count++;
        this.indexOfCid.set(cid, i);
        this.cidOf[i] = cid;
        this.workerOf[i] = worker || 0;
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
    this.cell[i] = this.takeCell(lane, lane === SLOTS ? this.slotGroup(i) : -1);
    this.dirtyDots.push(i);
  }

  leave(i) {
    const lane = this.lane[i];
    this.laneCounts[lane]--;
    if (lane === BACKLOG) this.dirtyLanes[lane] = 1;
    else this.freeCell(lane, this.cell[i]);
  }

  /** The group of slots a connection's dot goes to: its worker's (-1: one pool). */
  slotGroup(i) {
    if (this.workers < 2 || !this.slotCapacity) return -1;
    return this.workerGroup(this.workerOf[i]);
  }

  /** The lowest free cell of a lane, or of one worker's group of slots when `group` >= 0. */
  takeCell(lane, group = -1) {
    let occupied = this.occupancy[lane];
    if (group >= 0) {
      const per = this.slotCapacity;
      const end = (group + 1) * per;
      this.ensureCells(lane, this.workers * per);
      occupied = this.occupancy[lane];
      const c = occupied.indexOf(0, group * per);
      if (c >= 0 && c < end) {
        occupied[c] = 1;
        return c;
      }
      // Its worker's slots are all taken (never, unless the witnesses are a sample apart):
      // past every group, where the overflow is drawn and counted.
      const over = occupied.indexOf(0, this.workers * per);
      const cell = over >= 0 ? over : occupied.length;
      this.ensureCells(lane, cell + 1);
      this.occupancy[lane][cell] = 1;
      return cell;
    }
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

  ensureCells(lane, n) {
    const occupied = this.occupancy[lane];
    if (occupied.length >= n) return;
    const bigger = new Uint8Array(nextPowerOfTwo(n));
    bigger.set(occupied);
    this.occupancy[lane] = bigger;
  }

  /** How many of each worker's slots are taken, in the order of the groups. */
  workerCounts() {
    const per = this.slotCapacity;
    const occupied = this.occupancy[SLOTS];
    return Array.from({ length: this.workers }, (_, k) => {
      let n = 0;
      for (let c = k * per; c < Math.min((k + 1) * per, occupied.length); c++) n += occupied[c];
      return n;
    });
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
}
