/*
 * The live page: follows the stream over a WebSocket and keeps the lanes, the counters,
 * the accept-queue gauge, the time series, the latency histogram and the percentiles up
 * to date. This module only wires them together: each concern has a module of its own.
 */
import { live, view } from "./live-page.js";
import { onPresenterChange } from "./screen.js";
import { openStream } from "./stream.js";
import { renderNumbers, updateScope } from "./numbers.js";
import { appendChartPoint, buildChart, clearChart, loadChartHistory, rebuildChart, renderChart } from "./chart.js";
import { addLatencyCounts, clearLatencies, markHistogramDirty, renderHistogramIfDirty } from "./histogram.js";
import { followTip, hideTip, refreshTipIfMoved, tip } from "./tooltip.js";
import { followPresenter, updateEmptyState, updateReplayLink, updateTarget } from "./target-status.js";
import { onRestart } from "./restart.js";
import { slowMotion } from "./slow.js";
import { listenForKeys } from "./keys.js";
import { slotCapacity } from "./slots.js";
import "./share.js";

function applyCapacities() {
  const target = live.target;
  const queue = live.frame && live.frame.queue;
  const backlog = queue?.capacity ?? target?.capacity ?? target?.settings?.backlog ?? null;
  const slots = target ? slotCapacity(target.settings) : undefined;
  view.setServer(target?.settings);
  view.setCapacities(backlog, slots, target?.settings?.workers ?? 1, target?.worker_pids ?? []);
}

function applySnapshot(frame) {
  const previous = live.target;
  const sameStream = previous && frame.target && previous.id === frame.target.id && frame.t_ms >= live.t;
  // The stream keeps the counts over time: a reload, a late viewer or a resync redraws them all.
  loadChartHistory(frame.history);
  live.frame = frame;
  live.t = frame.t_ms || 0;
  live.elsewhere = frame.elsewhere ?? null;
  updateTarget(frame.target);
  applyCapacities();
  view.reset();
  view.applyRows(frame.connections || [], true);
  // A resync of the same stream keeps the connection being inspected.
  if (tip.cid != null && (!sameStream || view.laneKeyOf(tip.cid) === null)) hideTip();
  else if (tip.cid != null) view.select(tip.cid);
  clearLatencies(frame.latency_edges_ms || []);
  addLatencyCounts(frame.latency_counts || []);
  if (frame.target) appendChartPoint(frame);
  updateScope(frame.target);
  afterFrame();
}

function applyDelta(frame) {
  live.frame = frame;
  live.t = frame.t_ms;
  if (frame.target?.id !== live.target?.id || frame.target?.state !== live.target?.state) updateTarget(frame.target);
  else updateReplayLink(frame.target);
  applyCapacities();
  if (frame.changes?.length) view.applyRows(frame.changes);
  addLatencyCounts(frame.latency_counts || []);
  appendChartPoint(frame);
  updateScope(frame.target);
  afterFrame();
}

function afterFrame() {
  live.dirtyNumbers = true;
  followPresenter(live.frame?.target);
  updateEmptyState();
  if (tip.cid != null) refreshTipIfMoved();
}

const slow = slowMotion(applyDelta);

/** The target's status in the newest frame: slow motion may still hold the frames before it. */
let latestTarget = null;

function onFrame(frame) {
  // A delta carries the target's status only when it changed: without one, the last holds.
  if (frame.type === "delta" && !("target" in frame)) frame.target = latestTarget;
  else latestTarget = frame.target ?? null;
  if (frame.type === "snapshot") {
    // A snapshot is the present: whatever slow motion still held is behind it.
    slow.queue.length = 0;
    slow.playing = false;
    applySnapshot(frame);
  } else if (frame.type === "delta") {
    if (slow.on) slow.holdFrame(frame);
    else applyDelta(frame);
  }
}

/** Empties the lanes, the numbers, the chart and the histogram until the next snapshot. */
onRestart(() => {
  hideTip();
  view.reset();
  clearChart();
  live.frame = null;
  clearLatencies();
  live.dirtyNumbers = true;
  updateEmptyState();
});

onPresenterChange(() => {
  // The canvas reads its colours once; presenter mode has its own, with more contrast.
  view.readColours();
  view.staticDirty = true;
  view.needsDraw = true;
  markHistogramDirty();
  rebuildChart();
  updateEmptyState();
});

/* One loop for the DOM. */
function loop(now) {
  requestAnimationFrame(loop);
  slow.playSlow(now);
  slow.renderSlowBadge(now);
  if (live.dirtyNumbers) renderNumbers();
  renderHistogramIfDirty();
  renderChart(now);
  followTip();
}

function whenAssetsReady(callback) {
  if (window.connscopeAssets?.ready) callback();
  else document.addEventListener("connscope:assets-ready", callback, { once: true });
}

applyCapacities();
updateTarget(live.target);
listenForKeys(slow);
requestAnimationFrame(loop);
whenAssetsReady(buildChart);
openStream(onFrame);

// For tests and the curious: the view's own tallies, per lane.
window.connscope = { view, live, slow };
