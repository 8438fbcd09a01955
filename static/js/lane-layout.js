/*
 * The lanes' layout: every lane's geometry for the stage's size and the capacities, and each
 * dot's target in it (a glide there, or a jump for snapshots and reflowed bins).
 */
import { BACKLOG, FIRST_BIN, LANES, MAX_DOTS, SLOTS } from "./lane-table.js";
import {
  BIN_GAP, BIN_MIN_DOTS, COLUMN_WEIGHTS, GUTTER, MAX_DOT_CELL, MIN_FREE_BUCKET, PAD,
  freeGeometry, groupedPlacesGeometry, nextPowerOfTwo, placesGeometry, positionIn,
} from "./lane-geometry.js";

export class LaneLayout {
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
    if (lane === SLOTS && places && this.workers > 1) {
      this.laneGeometry[lane] = groupedPlacesGeometry(area, places, this.workers, this.textScale, this.fill);
    } else if (def.kind === "places" && places) {
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
    const column = this.columns[FIRST_BIN];
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
}
