/*
 * The latency histogram: 1-2-5 buckets on a log axis, on a canvas, with the p50, p90, p99,
 * p99.9 and max markers at the server's HDR figures (the summary's `latency_ms`, the same
 * the run's result gives), never figures of its own.
 */
import { cssVar, live, ui } from "./live-page.js";
import { isPresenting } from "./screen.js";

/** The summary's figures, with the label and dash each marker is drawn with. */
export const PERCENTILES = [
  { key: "p50", label: "p50", dash: [4, 3] },
  { key: "p90", label: "p90", dash: [6, 2] },
  { key: "p99", label: "p99", dash: [2, 3] },
  { key: "p99_9", label: "p99.9", dash: [1, 2] },
  { key: "max", label: "max", dash: [] },
];

// The buckets' lower edges, ms, as the stream's snapshot gives them (LATENCY_EDGES_MS in
// app/frames.py): the frames carry counts per bucket, not every latency.
let edges = [];
let bins = new Uint32Array(0);
let count = 0;
let dirty = true;

/** Finished requests counted so far. */
export function latencyCount() {
  return count;
}

/** Empties the histogram, on the snapshot's buckets (a snapshot brings every count again). */
export function clearLatencies(bucketEdges = edges) {
  edges = bucketEdges;
  bins = new Uint32Array(edges.length);
  count = 0;
  dirty = true;
}

export function markHistogramDirty() {
  dirty = true;
}

function bucketOf(ms) {
  // Binary search for the last edge <= ms; below the first edge counts in the first bucket.
  let lo = 0;
  let hi = edges.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (edges[mid] <= ms) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Adds a frame's counts per bucket (none: an empty list). */
export function addLatencyCounts(counts) {
  for (let k = 0; k < counts.length && k < bins.length; k++) {
    bins[k] += counts[k];
    count += counts[k];
    if (counts[k]) dirty = true;
  }
}

function bucketLabel(ms) {
  if (ms >= 1000) return ms / 1000 + " s";
  return ms + " ms";
}

function renderHistogram() {
  dirty = false;
  const canvas = ui.histogram;
  const rect = canvas.getBoundingClientRect();
  const dpr = Math.min(2, window.devicePixelRatio || 1);
  const width = Math.max(160, Math.floor(rect.width));
  const height = Math.max(100, Math.floor(rect.height));
  if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const font = cssVar("--font-ui", "system-ui");
  const muted = cssVar("--muted", "#9aa4b2");
  const text = cssVar("--text", "#e6edf3");
  const barColour = cssVar("--histogram-bar", "#79c0ff");

  let first = -1;
  let last = -1;
  let peak = 0;
  for (let k = 0; k < bins.length; k++) {
    if (!bins[k]) continue;
    if (first < 0) first = k;
    last = k;
    peak = Math.max(peak, bins[k]);
  }
  if (first < 0) {
    ctx.fillStyle = muted;
    ctx.font = `${isPresenting() ? 20 : 15}px ${font}`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText("no finished requests yet", width / 2, height / 2);
    canvas.setAttribute("aria-label", "Latency histogram: no finished requests yet");
    return;
  }
  // Show the populated range with a bucket of margin, at least nine buckets wide.
  let lo = Math.max(0, first - 1);
  let hi = Math.min(bins.length - 1, last + 1);
  while (hi - lo < 8) {
    if (lo > 0) lo--;
    if (hi - lo < 8 && hi < bins.length - 1) hi++;
    if (lo === 0 && hi === bins.length - 1) break;
  }
  const scale = isPresenting() ? 1.35 : 1;
  const left = 8;
  const right = width - 8;
  const bottom = height - Math.round(24 * scale);
  const n = hi - lo + 1;
  const slot = (right - left) / n;
  const xOf = (ms) => {
    // Position of a value along the log axis, for the percentile markers.
    const k = Math.min(hi, Math.max(lo, bucketOf(ms)));
    const a = edges[k];
    const b = edges[k + 1] ?? a * 2;
    const within = Math.min(1, Math.max(0, Math.log(ms / a) / Math.log(b / a)));
    return left + (k - lo + within) * slot;
  };

  // Percentile markers. Their labels sit on the marker's right (left near the edge); one that
  // would touch a label already placed drops to the next row: a row per label at most, so
  // they never overlap. Where each went is kept for tests (`live.percentileLabels`).
  const latency = live.frame?.summary?.latency_ms || {};
  const labelSize = Math.round(12 * scale);
  ctx.font = `600 ${labelSize}px ${font}`;
  const rows = PERCENTILES.map(() => []);
  live.percentileLabels = [];
  const markers = [];
  for (const { key, label, dash } of PERCENTILES) {
    const value = latency[key];
    if (value == null || value <= 0) continue;
    const x = xOf(value);
    const w = ctx.measureText(label).width;
    const onLeft = x + 3 + w > right;
    const from = onLeft ? x - 3 - w : x + 3;
    const row = rows.findIndex((taken) => taken.every(([a, b]) => from + w + 4 < a || from - 4 > b));
    rows[row].push([from, from + w]);
    const y = 2 + row * (labelSize + 3);
    markers.push({ x, from, y, label, dash, value });
    live.percentileLabels.push({ key, value, x: from, y, w, h: labelSize });
  }
  // Room above the tallest bar for its count and the rows of labels in use.
  const used = Math.max(1, rows.filter((taken) => taken.length).length);
  const top = Math.round(2 + used * (labelSize + 3) + 13 * scale + 4);

  ctx.fillStyle = barColour;
  ctx.beginPath();
  for (let k = lo; k <= hi; k++) {
    if (!bins[k]) continue;
    const h = Math.max(2, ((bottom - top) * bins[k]) / peak);
    ctx.rect(left + (k - lo) * slot + 1.5, bottom - h, slot - 3, h);
  }
  ctx.fill();

  ctx.font = `600 ${Math.round(13 * scale)}px ${font}`;
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  ctx.fillStyle = text;
  for (let k = lo; k <= hi; k++) {
    if (!bins[k] || slot < 22 * scale) continue;
    const h = Math.max(2, ((bottom - top) * bins[k]) / peak);
    ctx.fillText(String(bins[k]), left + (k - lo + 0.5) * slot, bottom - h - 2);
  }

  ctx.strokeStyle = muted;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(left, bottom + 0.5);
  ctx.lineTo(right, bottom + 0.5);
  ctx.stroke();
  drawEdgeLabels(ctx, lo, hi, left, right, slot, bottom + 5, { font, muted, text, scale });

  ctx.textBaseline = "top";
  ctx.font = `600 ${labelSize}px ${font}`;
  for (const { x, from, y, label, dash } of markers) {
    ctx.strokeStyle = text;
    ctx.setLineDash(dash);
    ctx.beginPath();
    ctx.moveTo(x + 0.5, y + labelSize + 1);
    ctx.lineTo(x + 0.5, bottom);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = text;
    ctx.textAlign = "left";
    ctx.fillText(label, from, y);
  }
  canvas.setAttribute(
    "aria-label",
    `Latency histogram of ${count} requests: ` +
      Array.from({ length: hi - lo + 1 }, (_, j) => lo + j)
        .filter((k) => bins[k])
        .map((k) => `${bins[k]} from ${bucketLabel(edges[k])}`)
        .join(", ") +
      markers.map((m) => `; ${m.label} ${m.value} ms`).join(""),
  );
}

/** Bucket edges under the axis: decades first, then others where they fit without overlap. */
function drawEdgeLabels(ctx, lo, hi, left, right, slot, y, { font, muted, text, scale = 1 }) {
  ctx.font = `${Math.round(13 * scale)}px ${font}`;
  ctx.textBaseline = "top";
  ctx.textAlign = "center";
  const taken = [];
  const fits = (a, b) => taken.every(([c, d]) => b + 8 < c || a - 8 > d);
  const marks = [];
  for (let k = lo; k <= hi + 1 && k < edges.length; k++) {
    const edge = edges[k];
    const decade = Math.abs(Math.log10(edge) - Math.round(Math.log10(edge))) < 1e-9;
    marks.push({ k, edge, decade });
  }
  for (const pass of [true, false]) {
    for (const { k, edge, decade } of marks) {
      if (decade !== pass) continue;
      const label = bucketLabel(edge);
      const w = ctx.measureText(label).width;
      const x = Math.min(right - w / 2, Math.max(left + w / 2, left + (k - lo) * slot));
      if (!fits(x - w / 2, x + w / 2)) continue;
      taken.push([x - w / 2, x + w / 2]);
      ctx.fillStyle = decade ? text : muted;
      ctx.fillText(label, x, y);
    }
  }
}

new ResizeObserver(() => {
  dirty = true;
}).observe(ui.histogram);

let drawnFigures = "";

/** Draws the histogram again if anything changed since the last time. */
export function renderHistogramIfDirty() {
  // The markers follow the server's figures, which change on their own clock (the summary is
  // recomputed every half second), also after the last latency came.
  const figures = JSON.stringify(live.frame?.summary?.latency_ms ?? null);
  if (dirty || figures !== drawnFigures) {
    drawnFigures = figures;
    renderHistogram();
  }
}
