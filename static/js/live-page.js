/*
 * What the live page's modules share: its elements, the lane view over its stage, and the
 * latest state of the stream (target, frame, clock). Every number shown comes from the
 * stream's frames (counts, totals, queue, summary, latencies), never from the dots.
 */
import { LaneView, MAX_DOTS } from "./lanes.js";

export const $ = (selector, root = document) => root.querySelector(selector);
export const initial = JSON.parse($("#connscope-initial").textContent);
// Without the token (off loopback) the page is the read-only audience view: no forms, no keys that change anything.
export const CONTROL = document.documentElement.dataset.control !== "off";

export const ui = {
  stage: $("#stage"),
  canvas: $("#lanes"),
  empty: $("#empty-state"),
  emptyTitle: $("#empty-title"),
  emptyHint: $("#empty-hint"),
  emptyLink: $("#empty-link"),
  aggregateNote: $("#aggregate-note"),
  tip: $("#dot-tip"),
  badge: $("#target-badge"),
  targetStatus: $("#target-status"),
  port: $("#target-port"),
  crash: $("#crash-report"),
  crashExit: $("#crash-exit"),
  crashTail: $("#crash-tail"),
  streamStatus: $("#stream-status"),
  gauge: $("#queue-gauge"),
  gaugeFill: $("#queue-fill"),
  gaugePeak: $("#queue-peak-mark"),
  chart: $("#states-chart"),
  histogram: $("#latency-histogram"),
  help: $("#key-help"),
  slowBadge: $("#slow-badge"),
  slowButton: $("#slow-toggle"),
  replayLast: $("#replay-last"),
};

export const live = {
  target: initial.target,
  frame: null, // the latest frame's gauges
  t: 0,
  dirtyNumbers: true,
  percentileLabels: [], // where the histogram put its percentile labels, for tests
};

export const view = new LaneView({
  stage: ui.stage,
  canvas: ui.canvas,
  overlay: $("#lane-overlay"),
  onModeChange(aggregated, connections) {
    ui.aggregateNote.hidden = !aggregated;
    if (aggregated) {
      ui.aggregateNote.textContent = `${connections} connections: above ${MAX_DOTS} the view shows counts per lane instead of dots.`;
    }
  },
});

/** A colour or font the stylesheets define, read now (presenter mode has its own). */
export function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}
