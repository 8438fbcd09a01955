/*
 * Where a lane's dots go: square cells fitted to a lane's area, the places (backlog,
 * slots) as boxes filled like a tank, and a dot's position by its cell or rank. Pure
 * arithmetic, no drawing: lanes.js lays the lanes out with it, lane-draw.js draws there.
 */

export const PAD = 4;
export const GUTTER = 16;
export const HEAD = 90; // room for the HTML lane header (--lane-head overrides it, e.g. in presenter mode)
export const BIN_HEAD = 22; // the bin's label row; a taller label (presenter mode) widens it
export const BIN_GAP = 4;
export const BIN_MIN_DOTS = 16;
export const MAX_DOT_CELL = 18;
export const MIN_FREE_BUCKET = 16;
const MAX_PLACE_CELL = 30;
/** The columns' widths: the five state lanes, then the outcome bins. */
export const COLUMN_WEIGHTS = [1.0, 0.78, 1.35, 1.0, 1.35, 1.75];

export function nextPowerOfTwo(n) {
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

/**
 * A grid of `bucket` cells filled top-down, leaving `room` at the bottom (for "no limit");
 * dots are capped in size (`cap`) so a few don't look huge.
 */
export function freeGeometry(area, bucket, room, alignLeft, cap) {
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
export function placesGeometry(area, places, extra, scale = 1, fill = false) {
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

/**
 * `per` places for each of `groups` worker processes, in bands stacked top to bottom, each
 * under a strip for its label: uvicorn's limit_concurrency is per process.
 */
export function groupedPlacesGeometry(area, per, groups, scale = 1, fill = false) {
  const strip = Math.round(16 * Math.max(1, scale));
  const band = area.h / groups;
  const parts = Array.from({ length: groups }, (_, k) => {
    const box = { x: area.x, y: area.y + k * band + strip, w: area.w, h: band - strip };
    const geometry = placesGeometry(box, per, false, scale, fill);
    return { ...geometry, label: { x: area.x, y: area.y + k * band, h: strip } };
  });
  const first = parts[0];
  return { ...first, places: per * groups, per, groups: parts, bottom: area.y + area.h, gridTop: first.gridTop };
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

export function positionIn(geometry, rank, out) {
  if (geometry.groups) {
    // One group of places per worker process: rank k*per… is worker k's first slot.
    const g = Math.min(Math.floor(rank / geometry.per), geometry.groups.length - 1);
    positionIn(geometry.groups[g], rank - g * geometry.per, out);
    return;
  }
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
