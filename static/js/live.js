/*
 * The live page: follows the stream over a WebSocket and keeps the lanes, the counters,
 * the accept-queue gauge, the time series, the latency histogram and the percentiles up
 * to date. Every number shown comes from the stream's frames (counts, totals, queue,
 * summary, latencies), never from the dots.
 */
import { LaneView, STATES, OUTCOMES, MAX_DOTS } from "./lanes.js";
import { announce, isPresenting, onPresenterChange, setPresenter, toggleFullscreen, togglePresenter } from "./presenter.js";

const CHART_STATES = ["connecting", "limbo", "queued", "accepted", "active", "closed"];
// Line styles as well as colours, so the series stay apart in grey-scale too.
const CHART_DASHES = { connecting: [6, 4], limbo: [2, 3], queued: undefined, accepted: [10, 3, 2, 3], active: undefined, closed: [1, 3] };
const CHART_WIDTHS = { queued: 3, active: 3 };
const CHART_MAX_POINTS = 6000;
const CHART_REDRAW_MS = 100;
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5000;
const TIP_FETCH_DELAY_MS = 60;
// 1-2-5 steps from 0.1 ms to 100 s: log-ish buckets that read as round numbers.
const LATENCY_EDGES = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

const $ = (selector, root = document) => root.querySelector(selector);
const initial = JSON.parse($("#connscope-initial").textContent);
// Without the token (off loopback) the page is the read-only audience view: no forms, no keys that change anything.
const CONTROL = document.documentElement.dataset.control !== "off";

const ui = {
  stage: $("#stage"),
  canvas: $("#lanes"),
  empty: $("#empty-state"),
  emptyTitle: $("#empty-title"),
  emptyHint: $("#empty-hint"),
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

/* ---------------- numbers ---------------- */

const countElements = new Map();
for (const el of document.querySelectorAll("[data-count]")) {
  const list = countElements.get(el.dataset.count) || [];
  list.push(el);
  countElements.set(el.dataset.count, list);
}
const shown = new Map();

/** Writes a number (or "–" for unknown) into every [data-count=name], only when it changed. */
function setCount(name, value, text) {
  const display = text ?? (value == null ? "–" : String(value));
  if (shown.get(name) === display) return;
  shown.set(name, display);
  for (const el of countElements.get(name) || []) {
    el.textContent = display;
    el.dataset.value = value == null ? "" : String(value);
  }
}

function formatMs(ms) {
  if (ms == null) return "–";
  if (ms >= 10000) return (ms / 1000).toFixed(1) + " s";
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

function formatDuration(ms) {
  if (ms >= 1000) return (ms / 1000).toFixed(ms >= 10000 ? 1 : 2) + " s";
  if (ms >= 10) return ms.toFixed(0) + " ms";
  return ms.toFixed(ms >= 1 ? 1 : 2) + " ms";
}

/* ---------------- state of the page ---------------- */

const live = {
  target: initial.target,
  frame: null, // the latest frame's gauges
  t: 0,
  dirtyNumbers: true,
  latencyBins: new Uint32Array(LATENCY_EDGES.length),
  latencyCount: 0,
  histogramDirty: true,
};

const view = new LaneView({
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
applyCapacities();
updateTarget(live.target);

function applyCapacities() {
  const target = live.target;
  const queue = live.frame && live.frame.queue;
  const backlog = queue?.capacity ?? target?.capacity ?? target?.settings?.backlog ?? null;
  const slots = target ? target.settings?.limit_concurrency ?? null : undefined;
  view.setCapacities(backlog, slots);
}

/* ---------------- stream ---------------- */

let socket = null;
let retryMs = RECONNECT_MIN_MS;
let retryTimer = 0;

function connect() {
  clearTimeout(retryTimer);
  setStreamStatus("connecting", "connecting…");
  socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
  socket.addEventListener("message", (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch (error) {
      console.error("connscope: unreadable frame", error);
      return;
    }
    if (frame.type === "snapshot") {
      // A snapshot is the present: whatever slow motion still held is behind it.
      slow.queue.length = 0;
      slow.playing = false;
      applySnapshot(frame);
    } else if (frame.type === "delta") {
      if (slow.on) holdFrame(frame);
      else applyDelta(frame);
    }
    retryMs = RECONNECT_MIN_MS;
    setStreamStatus("live", "live");
  });
  socket.addEventListener("close", () => {
    // Jitter keeps many viewers from reconnecting in lock-step after a server restart.
    const wait = Math.round(retryMs * (0.75 + Math.random() * 0.5));
    setStreamStatus("offline", `reconnecting in ${Math.max(1, Math.round(wait / 1000))} s…`);
    retryTimer = setTimeout(connect, wait);
    retryMs = Math.min(RECONNECT_MAX_MS, retryMs * 2);
  });
}

function setStreamStatus(state, text) {
  if (ui.streamStatus.dataset.state === state && ui.streamStatus.textContent === text) return;
  ui.streamStatus.dataset.state = state;
  ui.streamStatus.textContent = text;
}

function applySnapshot(frame) {
  const previous = live.target;
  const sameStream = previous && frame.target && previous.id === frame.target.id && frame.t_ms >= live.t;
  // The stream keeps the counts over time: a reload, a late viewer or a resync redraws them all.
  loadChartHistory(frame.history);
  live.frame = frame;
  live.t = frame.t_ms || 0;
  updateTarget(frame.target);
  applyCapacities();
  view.reset();
  view.applyRows(frame.connections || [], true);
  // A resync of the same stream keeps the connection being inspected.
  if (tip.cid != null && (!sameStream || view.laneKeyOf(tip.cid) === null)) hideTip();
  else if (tip.cid != null) view.select(tip.cid);
  live.latencyBins.fill(0);
  live.latencyCount = 0;
  addLatencies(frame.latencies || []);
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
  addLatencies(frame.latencies || []);
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

/* ---------------- what the numbers cover ---------------- */

/*
 * The stream's counts, totals, peaks and latencies cover every burst fired at the current
 * target since it started (a second burst joins the timeline). Say so wherever they show.
 */
let shownScope = "";

function updateScope(target) {
  const bursts = target?.bursts?.length ?? 0;
  const key = target ? `${target.id}|${bursts}` : "none";
  if (key === shownScope) return;
  shownScope = key;
  const plural = bursts === 1 ? "1 burst" : `${bursts} bursts`;
  const long = target ? `since this target started · ${plural}` : "no target yet";
  // The cards' headings say it short; the line above the counters says it in full.
  const short = !target ? "no target yet" : bursts === 0 ? "no burst yet" : bursts === 1 ? "1 burst" : `all ${bursts} bursts`;
  for (const el of document.querySelectorAll("[data-scope]")) {
    el.textContent = el.closest("#numbers-scope") ? long : short;
  }
  const line = document.getElementById("numbers-scope");
  if (line) line.dataset.bursts = String(bursts);
  view.setScope?.(target ? short : null);
}

/* ---------------- target status ---------------- */

function updateTarget(target) {
  const replaced = live.target && target && live.target.id !== target.id;
  live.target = target;
  // Another client's new target cut this one's bursts short: the burst list says so.
  if (replaced && $("#burst-progress")) {
    window.htmx?.ajax("GET", "/partials/bursts", { target: "#burst-progress", swap: "outerHTML" });
  }
  const state = target ? target.state : "none";
  const label = target ? target.state : "no target";
  for (const badge of [ui.badge, ...document.querySelectorAll("#target-panel [data-target-state]")]) {
    // The panel's badge is the back end's; keeping its text in step is all we touch.
    badge.textContent = label;
    badge.className = badge.className.replace(/badge--[\w-]+/, "badge--" + state);
    if (badge.dataset.targetState !== undefined) badge.dataset.targetState = state;
    else badge.dataset.state = state;
  }
  ui.targetStatus.dataset.state = state;
  ui.targetStatus.dataset.targetId = target ? String(target.id) : "";
  ui.port.textContent = target && target.port ? `127.0.0.1:${target.port}` : "";
  const crashed = state === "crashed";
  ui.crash.hidden = !crashed;
  if (crashed) {
    ui.crashExit.textContent = target.exit || "";
    ui.crashTail.textContent = (target.output_tail || []).join("\n") || target.error || "(no output)";
  }
  syncFireButton();
  updateEmptyState();
  updateReplayLink(target);
  document.dispatchEvent(new CustomEvent("connscope:target", { detail: target }));
}

/** Presenter mode links to the replay of the last recorded run (in presenter mode too). */
function updateReplayLink(target) {
  const link = ui.replayLast;
  if (!link) return;
  const runId = [...(target?.bursts || [])].reverse().find((b) => b.run_id != null)?.run_id;
  if (link.dataset.runId === String(runId ?? "")) return;
  link.dataset.runId = String(runId ?? "");
  link.hidden = runId == null;
  if (runId == null) return;
  link.href = `/runs/${runId}?present=1`;
  link.textContent = `▶ Replay run ${runId}`;
  link.title = `Replay run ${runId} step by step, from 0.05× (opens in presenter mode)`;
}

function syncFireButton() {
  const fire = $("#fire");
  if (!fire) return;
  const target = live.target;
  const ready = !!target && target.state === "ready";
  if (ready) fire.removeAttribute("aria-disabled");
  else fire.setAttribute("aria-disabled", "true");
  // Why Fire does nothing yet, next to it (the server renders the same words).
  const hint = $("#fire-hint");
  if (!hint) return;
  const text = ready
    ? `fires at 127.0.0.1:${target.port} with the settings below`
    : !target
      ? "Start a target first: there is nothing to fire at yet."
      : target.state === "starting"
        ? "The target is starting: Fire works once it is ready."
        : `The target has ${target.state}: press Restart or Start target first.`;
  if (hint.textContent !== text) hint.textContent = text;
  hint.dataset.ready = String(ready);
}

document.addEventListener("htmx:afterSwap", syncFireButton);

/* An answer htmx does not swap in (403 without the token, 400, 5xx): said, as text only. */
document.addEventListener("htmx:responseError", (event) => {
  const xhr = event.detail.xhr;
  const plain = (xhr.getResponseHeader("content-type") || "").startsWith("text/plain");
  const line = plain ? xhr.responseText.trim().split("\n")[0].slice(0, 200) : "";
  announce(line ? `HTTP ${xhr.status}: ${line}` : `The dashboard answered HTTP ${xhr.status}.`);
});

/* The audience view's panels follow what the presenter does: a new target, its state, a burst done. */
let audienceSeen = "";
function followPresenter(target) {
  if (CONTROL || !window.htmx) return;
  const bursts = target?.bursts || [];
  const key = target ? `${target.id}|${target.state}|${bursts.length}|${bursts.filter((b) => b.done).length}` : "";
  if (key === audienceSeen) return;
  audienceSeen = key;
  window.htmx.trigger(document.body, "connscope:reload-panels");
}

/*
 * A form the server turned down (422: invalid values, 409: nothing to fire at) comes back
 * with its errors inline: bring the first one into view and put the focus on its field.
 */
const FORM_PANELS = { "/targets": "#target-panel", "/bursts": "#burst-panel" };
document.addEventListener("htmx:afterSettle", (event) => {
  const detail = event.detail;
  const status = detail.xhr?.status;
  if (status !== 422 && status !== 409) return;
  const panel = $(FORM_PANELS[detail.pathInfo?.requestPath] || "");
  if (!panel) return;
  const field = panel.querySelector("[aria-invalid=true]");
  const message = field || panel.querySelector(".error[role=alert]");
  if (!message) return;
  if (isPresenting()) setPresenter(false, { quiet: true });
  const focusable = field || $("#fire", panel) || message;
  focusable.focus({ preventScroll: true });
  (field?.closest(".field") || message).scrollIntoView({ block: "center", behavior: "auto" });
});

function audienceEmptyState(target) {
  if (!target) return ["no-target", "No target yet", "The presenter starts one; every connection will show here, live."];
  if (target.state === "starting") return ["starting", "Starting the target…", "uvicorn is booting in its sandbox."];
  if (target.state === "ready") return ["ready", "Target ready", "Waiting for the presenter to fire a burst."];
  if (target.state === "crashed") return ["crashed", "The target crashed", "Its exit status and output are above."];
  return [target.state, `The target has ${target.state}`, "Waiting for the presenter."];
}

function updateEmptyState() {
  const target = live.target;
  // In presenter mode the settings are hidden: point at the keys instead of "on the left".
  const presenting = isPresenting();
  const where = presenting ? "Press p for the settings, or 1 to 9 for a guided scenario" : "Start a target on the left";
  let reason = "";
  let title = "";
  let hint = "";
  if (view.connections > 0) reason = "";
  else if (!CONTROL) [reason, title, hint] = audienceEmptyState(target);
  else if (!target) {
    reason = "no-target";
    title = presenting ? "No target yet" : "Start a target on the left, then fire a burst";
    hint = presenting
      ? `${where}.`
      : "Each connection becomes a dot that moves through the kernel's backlog and uvicorn's slots, and lands in its outcome.";
  } else if (target.state === "starting") {
    reason = "starting";
    title = "Starting the target…";
    hint = "uvicorn is booting in its sandbox.";
  } else if (target.state === "ready") {
    reason = "ready";
    title = "Target ready: fire a burst";
    hint = presenting
      ? `uvicorn listens on 127.0.0.1:${target.port}. Press space to fire, r to reset.`
      : `uvicorn listens on 127.0.0.1:${target.port}. Set the burst on the left and press Fire (or space).`;
  } else if (target.state === "crashed") {
    reason = "crashed";
    title = "The target crashed";
    hint = presenting
      ? "Its exit status and output are above. Press r to start it again, or p for the settings."
      : "Its exit status and output are above. Change the settings on the left and start it again.";
  } else {
    reason = target.state;
    title = `The target has ${target.state}`;
    hint = presenting ? "Press r to start it again with the same settings." : "Start a target on the left, then fire a burst.";
  }
  ui.empty.hidden = reason === "";
  const shownKey = `${reason}|${presenting}|${target?.port ?? ""}`;
  if (ui.empty.dataset.shown !== shownKey) {
    ui.empty.dataset.shown = shownKey;
    ui.empty.dataset.reason = reason;
    ui.emptyTitle.textContent = title;
    ui.emptyHint.textContent = hint;
  }
}

/* ---------------- counters, gauge, percentiles (once per animation frame) ---------------- */

function renderNumbers() {
  live.dirtyNumbers = false;
  const frame = live.frame || {};
  const counts = frame.counts || {};
  const totals = frame.totals || {};
  for (const state of STATES) setCount(state, counts[state] ?? 0);
  setCount("requests", totals.requests ?? 0);
  for (const outcome of OUTCOMES) setCount(outcome, totals[outcome] ?? 0);

  const queue = frame.queue;
  const capacity = queue?.capacity ?? live.target?.capacity ?? null;
  setCount("queue-length", queue ? queue.length : null);
  setCount("queue-capacity", capacity);
  const places = capacity == null ? 0 : capacity + 1;
  const fill = queue && places ? Math.min(1, queue.length / places) : 0;
  ui.gaugeFill.style.transform = `scaleX(${fill})`;
  ui.gauge.setAttribute("aria-valuenow", String(fill));
  ui.gauge.setAttribute("aria-valuetext", queue ? `${queue.length} of ${capacity} (+1)` : "unknown");
  ui.gauge.dataset.level =
    !queue || queue.length === 0 ? "empty" : queue.length >= (capacity ?? Infinity) ? "full" : fill > 0.7 ? "high" : "some";

  const summary = frame.summary || {};
  const peaks = summary.peaks || {};
  for (const state of ["connecting", "limbo", "queued", "accepted", "active"]) setCount("peak-" + state, peaks[state] ?? null);
  // The gauge is the kernel's queue: its mark is the kernel's own peak, not the records'.
  const kernelPeak = peaks.accept_queue ?? null;
  setCount("peak-accept-queue", kernelPeak);
  if (places && kernelPeak != null) {
    ui.gaugePeak.hidden = false;
    ui.gaugePeak.style.left = `${Math.min(1, kernelPeak / places) * 100}%`;
    ui.gaugePeak.title = `kernel peak: ${kernelPeak}`;
  } else ui.gaugePeak.hidden = true;
  const limit = live.target?.settings?.limit_concurrency;
  setCount("slots", limit ?? null, live.target ? (limit == null ? "no limit" : String(limit)) : "–");

  const latency = summary.latency_ms || {};
  for (const key of ["p50", "p90", "p99", "max"]) setCount("latency-" + key, latency[key] ?? null, formatMs(latency[key]));
  const connectMs = summary.connect_ms || {};
  for (const key of ["p50", "p99", "max"]) setCount("connect-" + key, connectMs[key] ?? null, formatMs(connectMs[key]));
  setCount("latency-samples", live.latencyCount);
}

/* ---------------- time series (uPlot) ---------------- */

const chart = {
  plot: null,
  data: [[], ...CHART_STATES.map(() => [])],
  dirty: false,
  drawnAt: 0,
};

function clearChart() {
  for (const column of chart.data) column.length = 0;
  chart.firstX = null;
  chart.lastChangeX = null;
  chart.lastValues = "";
  chart.dirty = true;
}

/**
 * Notes the first moment any connection existed and the last moment a count changed: the
 * x-axis spans those, not the idle time before the first burst or after the last one.
 */
function noteFirstX(x, values) {
  if (chart.firstX == null && values.some((v) => v > 0)) chart.firstX = x;
  const key = values.join(",");
  if (key !== chart.lastValues) {
    chart.lastValues = key;
    chart.lastChangeX = x;
  }
}

/** Replaces the series with the stream's own history of counts (snapshot frames carry it). */
function loadChartHistory(history) {
  clearChart();
  if (!history || !Array.isArray(history.points)) return;
  const columns = CHART_STATES.map((state) => history.states.indexOf(state) + 1);
  const points = history.points.slice(-CHART_MAX_POINTS);
  for (const point of points) {
    const x = point[0] / 1000;
    const values = columns.map((c) => (c > 0 ? point[c] ?? 0 : 0));
    chart.data[0].push(x);
    values.forEach((v, k) => chart.data[k + 1].push(v));
    noteFirstX(x, values);
  }
}

function appendChartPoint(frame) {
  const counts = frame.counts || {};
  const x = (frame.t_ms || 0) / 1000;
  const xs = chart.data[0];
  if (xs.length && x < xs[xs.length - 1]) {
    // Only a point from before the last one (a history point just loaded) may be skipped.
    if (xs[xs.length - 1] - x < 0.5) return;
    clearChart();
  }
  const values = CHART_STATES.map((state) => counts[state] ?? 0);
  xs.push(x);
  values.forEach((v, k) => chart.data[k + 1].push(v));
  noteFirstX(x, values);
  if (xs.length > CHART_MAX_POINTS) {
    const drop = xs.length - Math.floor(CHART_MAX_POINTS * 0.8);
    for (const column of chart.data) column.splice(0, drop);
  }
  chart.dirty = true;
}

/** The x-range: from a little before the first connection to the last point, so a burst fills the chart. */
function chartXRange(u, dataMin, dataMax) {
  const xs = chart.data[0];
  if (!xs.length) return [0, 1];
  const first = chart.firstX ?? xs[0];
  const changed = chart.firstX == null ? xs[xs.length - 1] : chart.lastChangeX ?? xs[xs.length - 1];
  const span = Math.max(changed - first, 0.2);
  const pad = Math.max(0.05, span * 0.03);
  const from = Math.max(xs[0], first - pad);
  // While a burst runs the axis follows the clock; once idle it ends at the last change.
  const running = (live.target?.bursts || []).some((b) => !b.done);
  const to = running ? xs[xs.length - 1] : Math.min(xs[xs.length - 1], changed + pad);
  return [from, Math.max(to, from + 0.2)];
}

function formatSeconds(value, step) {
  const decimals = step >= 1 ? 0 : step >= 0.1 ? 1 : 2;
  return value.toFixed(decimals) + " s";
}

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

function buildChart() {
  if (chart.plot || typeof window.uPlot !== "function") return;
  const uPlot = window.uPlot;
  // Read now, so presenter mode (rebuilt on each switch) gets its own colours and type.
  const muted = cssVar("--muted", "#9aa4b2");
  const grid = cssVar("--grid", "rgba(255,255,255,0.08)");
  const presenting = isPresenting();
  const font = `${presenting ? 18 : 14}px ${cssVar("--font-ui", "system-ui")}`;
  const stepped = uPlot.paths.stepped({ align: 1 });
  const axis = { stroke: muted, font, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  const rect = ui.chart.getBoundingClientRect();
  chart.plot = new uPlot(
    {
      width: Math.max(200, Math.floor(rect.width)),
      height: Math.max(120, Math.floor(rect.height) - 34),
      scales: { x: { time: false, range: chartXRange }, y: { range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.08))] } },
      axes: [
        { ...axis, size: presenting ? 52 : 42, values: (u, ticks, axisIdx, space, step) => ticks.map((t) => formatSeconds(t, step ?? 1)) },
        { ...axis, size: presenting ? 64 : 52 },
      ],
      cursor: { points: { size: 6 }, drag: { x: false, y: false } },
      legend: { live: true },
      series: [
        { label: "time", value: (u, v) => (v == null ? "–" : v.toFixed(2) + " s") },
        ...CHART_STATES.map((state) => ({
          label: state,
          stroke: cssVar(`--state-${state}`, "#ccc"),
          width: (CHART_WIDTHS[state] ?? 2) * (presenting ? 1.5 : 1),
          dash: CHART_DASHES[state],
          paths: stepped,
          points: { show: false },
          // closed only grows and would flatten the others: off until asked for.
          show: state !== "closed",
        })),
      ],
    },
    chart.data,
    ui.chart,
  );
  const fit = () => {
    const box = ui.chart.getBoundingClientRect();
    const legend = ui.chart.querySelector(".u-legend");
    const legendHeight = legend ? legend.offsetHeight : 34;
    chart.plot.setSize({
      width: Math.max(200, Math.floor(box.width)),
      height: Math.max(100, Math.floor(box.height) - legendHeight - 4),
    });
  };
  fit();
  chart.observer = new ResizeObserver(fit);
  chart.observer.observe(ui.chart);
  chart.dirty = true;
}

/** Presenter mode has its own colours and type: build the chart again with them. */
function rebuildChart() {
  if (!chart.plot) return;
  chart.observer?.disconnect();
  chart.plot.destroy();
  chart.plot = null;
  buildChart();
}

function renderChart(now) {
  if (!chart.plot || !chart.dirty || now - chart.drawnAt < CHART_REDRAW_MS) return;
  chart.dirty = false;
  chart.drawnAt = now;
  chart.plot.setData(chart.data);
}

/* ---------------- latency histogram ---------------- */

function bucketOf(ms) {
  // Binary search for the last edge <= ms; below the first edge counts in the first bucket.
  let lo = 0;
  let hi = LATENCY_EDGES.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (LATENCY_EDGES[mid] <= ms) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function addLatencies(values) {
  for (const ms of values) live.latencyBins[bucketOf(ms)]++;
  live.latencyCount += values.length;
  if (values.length) live.histogramDirty = true;
}

function bucketLabel(ms) {
  if (ms >= 1000) return ms / 1000 + " s";
  return ms + " ms";
}

function renderHistogram() {
  live.histogramDirty = false;
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
  const bins = live.latencyBins;
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
  // Room above the tallest bar for its count and a row per percentile label, so even three
  // markers at one spot (p50 = p90 = p99) keep their labels apart.
  const top = Math.round(2 + 3 * (12 * scale + 3) + 13 * scale + 4);
  const bottom = height - Math.round(24 * scale);
  const n = hi - lo + 1;
  const slot = (right - left) / n;
  const xOf = (ms) => {
    // Position of a value along the log axis, for the percentile markers.
    const k = Math.min(hi, Math.max(lo, bucketOf(ms)));
    const a = LATENCY_EDGES[k];
    const b = LATENCY_EDGES[k + 1] ?? a * 2;
    const within = Math.min(1, Math.max(0, Math.log(ms / a) / Math.log(b / a)));
    return left + (k - lo + within) * slot;
  };

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

  // Percentile markers. Their labels sit on the marker's right (left near the edge); one that
  // would touch a label already placed drops to the next row: three rows, three labels, so
  // they never overlap. Where each went is kept for tests (`live.percentileLabels`).
  const latency = live.frame?.summary?.latency_ms || {};
  const labelSize = Math.round(12 * scale);
  ctx.textBaseline = "top";
  ctx.font = `600 ${labelSize}px ${font}`;
  const rows = [[], [], []];
  live.percentileLabels = [];
  for (const [key, dash] of [["p50", [4, 3]], ["p90", [6, 2]], ["p99", [2, 3]]]) {
    const value = latency[key];
    if (value == null || value <= 0) continue;
    const x = xOf(value);
    const w = ctx.measureText(key).width;
    const onLeft = x + 3 + w > right;
    const from = onLeft ? x - 3 - w : x + 3;
    const row = rows.findIndex((taken) => taken.every(([a, b]) => from + w + 4 < a || from - 4 > b));
    rows[row].push([from, from + w]);
    const y = 2 + row * (labelSize + 3);
    live.percentileLabels.push({ key, x: from, y, w, h: labelSize });
    ctx.strokeStyle = text;
    ctx.setLineDash(dash);
    ctx.beginPath();
    ctx.moveTo(x + 0.5, y + labelSize + 1);
    ctx.lineTo(x + 0.5, bottom);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = text;
    ctx.textAlign = "left";
    ctx.fillText(key, from, y);
  }
  canvas.setAttribute(
    "aria-label",
    `Latency histogram of ${live.latencyCount} requests: ` +
      Array.from({ length: hi - lo + 1 }, (_, j) => lo + j)
        .filter((k) => bins[k])
        .map((k) => `${bins[k]} from ${bucketLabel(LATENCY_EDGES[k])}`)
        .join(", "),
  );
}

/** Bucket edges under the axis: decades first, then others where they fit without overlap. */
function drawEdgeLabels(ctx, lo, hi, left, right, slot, y, { font, muted, text, scale = 1 }) {
  ctx.font = `${Math.round(13 * scale)}px ${font}`;
  ctx.textBaseline = "top";
  ctx.textAlign = "center";
  const taken = [];
  const fits = (a, b) => taken.every(([c, d]) => b + 8 < c || a - 8 > d);
  const edges = [];
  for (let k = lo; k <= hi + 1 && k < LATENCY_EDGES.length; k++) {
    const edge = LATENCY_EDGES[k];
    const decade = Math.abs(Math.log10(edge) - Math.round(Math.log10(edge))) < 1e-9;
    edges.push({ k, edge, decade });
  }
  for (const pass of [true, false]) {
    for (const { k, edge, decade } of edges) {
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
  live.histogramDirty = true;
}).observe(ui.histogram);

/* ---------------- slow motion: the live view at 0.25× ---------------- */

/*
 * A live run is over in a few seconds. In slow motion every frame is held and shown at a
 * quarter of the pace it happened, the whole page at once (lanes, counters, gauge, charts),
 * so the screen always shows one true moment of the run, only later. Pauses inside a run
 * are slowed too; once the run is over and everything held has been shown, the view is live
 * again. The badge says so all the while, with how far behind it is.
 */
const SLOW_RATE = 0.25;
const SLOW_MAX_FRAMES = 20000;
const slow = {
  on: false,
  playing: false,
  queue: [],
  fromT: 0, // stream time (ms) shown at `fromAt`
  fromAt: 0,
  latestT: 0, // the newest frame's stream time and when it came
  latestAt: 0,
  running: false, // a burst was still running in the newest frame
  badge: "",
};

function holdFrame(frame) {
  const now = performance.now();
  if (!slow.playing) {
    slow.playing = true;
    slow.fromT = frame.t_ms;
    slow.fromAt = now;
  }
  slow.queue.push(frame);
  slow.latestT = frame.t_ms;
  slow.latestAt = now;
  slow.running = (frame.target?.bursts || []).some((b) => !b.done);
  if (slow.queue.length > SLOW_MAX_FRAMES) {
    catchUp();
    announce("Slow motion fell too far behind: the view is live again.");
  }
}

/** Shows every held frame at once: the view is live again. */
function catchUp() {
  for (const frame of slow.queue) applyDelta(frame);
  slow.queue.length = 0;
  slow.playing = false;
}

function playSlow(now) {
  if (!slow.playing) return;
  const shownT = slow.fromT + (now - slow.fromAt) * SLOW_RATE;
  let k = 0;
  while (k < slow.queue.length && slow.queue[k].t_ms <= shownT) applyDelta(slow.queue[k++]);
  if (k) slow.queue.splice(0, k);
  // Over once the run is done and all it held is shown; a pause inside a run is slowed too.
  if (!slow.queue.length && !slow.running) slow.playing = false;
}

function renderSlowBadge(now) {
  let text = "";
  if (slow.on) {
    const behind = slow.playing ? slow.latestT + (now - slow.latestAt) - (slow.fromT + (now - slow.fromAt) * SLOW_RATE) : 0;
    text = slow.playing ? `0.25× · live · ${(Math.max(0, behind) / 1000).toFixed(1)} s behind` : "0.25× · live · caught up";
  }
  if (text === slow.badge) return;
  slow.badge = text;
  ui.slowBadge.hidden = !slow.on;
  ui.slowBadge.textContent = text;
  ui.slowBadge.dataset.playing = String(slow.playing);
}

function setSlow(on) {
  slow.on = Boolean(on);
  if (!slow.on) catchUp();
  ui.slowButton.setAttribute("aria-pressed", String(slow.on));
  const url = new URL(location.href);
  if (slow.on) url.searchParams.set("slow", "1");
  else url.searchParams.delete("slow");
  history.replaceState(history.state, "", url);
  announce(slow.on
    ? "Slow motion on: the live view plays each run at 0.25× and catches up when it is over. s leaves."
    : "Slow motion off: the view is live.");
}

ui.slowButton.addEventListener("click", () => setSlow(!slow.on));
if (new URLSearchParams(location.search).get("slow") === "1") {
  slow.on = true;
  ui.slowButton.setAttribute("aria-pressed", "true");
}

/* ---------------- one loop for the DOM ---------------- */

function loop(now) {
  requestAnimationFrame(loop);
  playSlow(now);
  renderSlowBadge(now);
  if (live.dirtyNumbers) renderNumbers();
  if (live.histogramDirty) renderHistogram();
  renderChart(now);
  if (tip.cid != null && tip.follow) placeTip();
}
requestAnimationFrame(loop);

/* ---------------- a connection's own timeline (hover, tap, arrow keys) ---------------- */

const tip = {
  cid: null,
  pinned: false,
  follow: false,
  lane: null,
  controller: null,
  timer: 0,
  cache: new Map(), // cid → {lane, data}
};

function hideTip() {
  tip.cid = null;
  tip.pinned = false;
  tip.follow = false;
  clearTimeout(tip.timer);
  tip.controller?.abort();
  ui.tip.hidden = true;
  view.select(null);
  ui.canvas.removeAttribute("aria-describedby");
}

function showTip(cid, pinned) {
  if (cid == null) {
    if (!tip.pinned) hideTip();
    return;
  }
  if (tip.cid === cid) {
    tip.pinned = tip.pinned || pinned;
    return;
  }
  tip.cid = cid;
  tip.pinned = pinned;
  tip.follow = true;
  tip.lane = view.laneKeyOf(cid);
  view.select(cid);
  ui.tip.hidden = false;
  ui.canvas.setAttribute("aria-describedby", "dot-tip");
  const cached = tip.cache.get(cid);
  if (cached && cached.lane === tip.lane) renderTip(cid, cached.data);
  else {
    renderTipLoading(cid);
    clearTimeout(tip.timer);
    tip.timer = setTimeout(() => fetchTip(cid), pinned ? 0 : TIP_FETCH_DELAY_MS);
  }
  placeTip();
}

function refreshTipIfMoved() {
  const lane = view.laneKeyOf(tip.cid);
  if (lane === null) return hideTip();
  if (lane !== tip.lane) {
    tip.lane = lane;
    tip.follow = true;
    clearTimeout(tip.timer);
    tip.timer = setTimeout(() => fetchTip(tip.cid), TIP_FETCH_DELAY_MS);
  }
}

async function fetchTip(cid) {
  const target = live.target;
  if (!target || tip.cid !== cid) return;
  tip.controller?.abort();
  const controller = (tip.controller = new AbortController());
  const lane = tip.lane;
  try {
    const response = await fetch(`/api/targets/${target.id}/connections/${cid}`, { signal: controller.signal });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const data = await response.json();
    // `now_ms` is on the connection's own (burst-relative) clock; note when it was read.
    data.fetchedAt = performance.now();
    tip.cache.set(cid, { lane, data });
    if (tip.cache.size > 500) tip.cache.delete(tip.cache.keys().next().value);
    if (tip.cid === cid) renderTip(cid, data);
  } catch (error) {
    if (error.name === "AbortError" || tip.cid !== cid) return;
    ui.tip.innerHTML = "";
    ui.tip.append(tipHeading(cid, null), element("p", "dot-tip__error", `could not load its timeline (${error.message})`));
  }
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text != null) el.textContent = text;
  return el;
}

function tipHeading(cid, data) {
  const head = element("div", "dot-tip__head");
  head.append(element("strong", null, `connection ${cid}`));
  if (data) head.append(element("span", null, `port ${data.port ?? "?"} · burst ${data.burst ?? "?"}`));
  return head;
}

function renderTipLoading(cid) {
  ui.tip.innerHTML = "";
  ui.tip.append(tipHeading(cid, null), element("p", "dot-tip__loading", "loading its timeline…"));
}

function renderTip(cid, data) {
  ui.tip.innerHTML = "";
  ui.tip.append(tipHeading(cid, data));
  const states = data.states || [];
  if (states.length) {
    const start = states[0][1];
    const lastState = states[states.length - 1];
    // The endpoint's times run from the start of the connection's burst, and so does its
    // `now_ms`: the stream's own clock (from the target's start) is another one.
    const now = data.now_ms == null ? lastState[1] : data.now_ms + (performance.now() - (data.fetchedAt ?? performance.now()));
    const end = lastState[0] === "closed" ? lastState[1] : Math.max(lastState[1], now);
    const span = Math.max(end - start, 0.001);
    const bar = element("div", "timeline-bar");
    const list = element("ol", "timeline-list");
    states.forEach(([state, t], k) => {
      const next = states[k + 1];
      const until = next ? next[1] : state === "closed" ? t : end;
      const duration = until - t;
      if (state !== "closed") {
        const segment = element("span", `timeline-bar__seg seg--${state}`);
        segment.style.flexGrow = String(Math.max(duration / span, 0.015));
        segment.title = `${state} ${formatDuration(duration)}`;
        bar.append(segment);
      }
      const row = element("li");
      row.dataset.state = state;
      row.append(
        element("i", `swatch swatch--${state}`),
        element("span", "timeline-list__state", state),
        element("span", "timeline-list__at", "+" + formatDuration(t - start)),
        element("span", "timeline-list__for", state === "closed" ? "" : next ? formatDuration(duration) : "so far " + formatDuration(duration)),
      );
      list.append(row);
    });
    ui.tip.append(bar, list);
  }
  const requests = data.requests || [];
  if (requests.length) {
    const table = element("table", "tip-requests");
    const head = table.createTHead().insertRow();
    for (const title of ["#", "outcome", "status", "latency"]) head.append(element("th", null, title));
    const body = table.createTBody();
    requests.forEach((request, k) => {
      const row = body.insertRow();
      const outcome = request.outcome || "pending";
      row.dataset.outcome = outcome;
      row.insertCell().textContent = String(k + 1);
      const cell = row.insertCell();
      cell.append(element("i", `glyph glyph--${outcome}`, glyphOf(outcome)), document.createTextNode(" " + outcome));
      row.insertCell().textContent = request.status ?? "–";
      row.insertCell().textContent = request.latency_ms == null ? "–" : formatDuration(request.latency_ms);
      const notes = [request.error, request.timeout_state && `timed out while ${request.timeout_state}`].filter(Boolean);
      if (notes.length) {
        const note = body.insertRow();
        note.className = "tip-requests__note";
        const noteCell = note.insertCell();
        noteCell.colSpan = 4;
        noteCell.textContent = notes.join(" · ");
      }
    });
    ui.tip.append(table);
  } else {
    ui.tip.append(element("p", "dot-tip__loading", "no request finished yet"));
  }
  placeTip();
}

function glyphOf(outcome) {
  return { ok: "●", rejected: "■", error: "▲", refused: "✕", reset: "◆", timeout: "○" }[outcome] || "·";
}

function placeTip() {
  const position = view.dotPosition(tip.cid);
  if (!position) return;
  const stageWidth = ui.stage.clientWidth;
  const stageHeight = ui.stage.clientHeight;
  const width = ui.tip.offsetWidth;
  const height = ui.tip.offsetHeight;
  let x = position.x + position.r + 12;
  if (x + width > stageWidth - 6) x = position.x - position.r - 12 - width;
  let y = position.y - 24;
  y = Math.min(Math.max(6, y), Math.max(6, stageHeight - height - 6));
  x = Math.max(6, x);
  ui.tip.style.transform = `translate(${Math.round(x)}px, ${Math.round(y)}px)`;
  // Once the glide is over the tip can stay put.
  tip.follow = false;
  requestAnimationFrame(() => {
    const again = view.dotPosition(tip.cid);
    if (again && (again.x !== position.x || again.y !== position.y)) tip.follow = true;
  });
}

function canvasPoint(event) {
  const rect = ui.canvas.getBoundingClientRect();
  return { x: event.clientX - rect.left, y: event.clientY - rect.top };
}

let pendingPointer = null;
ui.canvas.addEventListener("pointermove", (event) => {
  if (event.pointerType === "touch") return;
  const first = pendingPointer === null;
  pendingPointer = canvasPoint(event);
  if (!first) return;
  requestAnimationFrame(() => {
    const point = pendingPointer;
    pendingPointer = null;
    if (tip.pinned) return;
    showTip(view.cidAt(point.x, point.y), false);
  });
});
ui.canvas.addEventListener("pointerleave", () => {
  if (!tip.pinned) hideTip();
});
ui.canvas.addEventListener("pointerdown", (event) => {
  const point = canvasPoint(event);
  const cid = view.cidAt(point.x, point.y);
  if (cid == null) return hideTip();
  if (tip.cid !== cid) hideTip();
  showTip(cid, true);
});
document.addEventListener("pointerdown", (event) => {
  if (tip.pinned && !ui.stage.contains(event.target)) hideTip();
});

/** Shows the next (1) or previous (-1) connection's own timeline. */
function stepConnection(direction) {
  const cid = view.neighbour(tip.cid, direction);
  if (cid == null) return;
  hideTip();
  showTip(cid, true);
}

ui.canvas.addEventListener("keydown", (event) => {
  if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
    event.preventDefault();
    stepConnection(event.key === "ArrowRight" ? 1 : -1);
  }
});

/* ---------------- reset: the same target again, and an empty view ---------------- */

const RESTART_PATH = "/targets/current/restart";
let restarting = false;

/** Empties the lanes, the numbers, the chart and the histogram until the next snapshot. */
function clearView() {
  hideTip();
  view.reset();
  clearChart();
  live.frame = null;
  live.latencyBins.fill(0);
  live.latencyCount = 0;
  live.histogramDirty = true;
  live.dirtyNumbers = true;
  updateEmptyState();
}

function isOk(detail) {
  return !!detail.xhr && detail.xhr.status >= 200 && detail.xhr.status < 300;
}

/** `r`: stops the current target and starts it again with the same settings. */
function restartTarget() {
  if (!CONTROL) {
    announce("This is the read-only view: only the presenter can restart the target.");
    return;
  }
  if (!window.htmx || restarting) return;
  if (!live.target) {
    announce("Nothing to reset: start a target first, or press 1 to 9 for a guided scenario.");
    return;
  }
  restarting = true;
  announce("Resetting: restarting the target with the same settings…");
  window.htmx
    .ajax("POST", RESTART_PATH, { target: "#target-panel", swap: "outerHTML" })
    .catch(() => announce("The reset failed: the dashboard did not answer."))
    .finally(() => {
      restarting = false;
    });
}

// The same for the key and the target panel's Restart button.
document.addEventListener("htmx:beforeRequest", (event) => {
  if (event.detail.pathInfo?.requestPath === RESTART_PATH) clearView();
});
document.addEventListener("htmx:afterRequest", (event) => {
  const detail = event.detail;
  if (detail.pathInfo?.requestPath !== RESTART_PATH) return;
  if (!isOk(detail)) {
    announce(`The reset failed (HTTP ${detail.xhr?.status || "no answer"}).`);
    return;
  }
  // The old target's scenario story and burst list are not the new one's.
  if ($("#scenario-panel")) window.htmx.ajax("GET", "/partials/scenario", { target: "#scenario-panel", swap: "outerHTML" });
  if ($("#burst-progress")) window.htmx.ajax("GET", "/partials/bursts", { target: "#burst-progress", swap: "outerHTML" });
  const state = $("#target-panel [data-target-state]")?.dataset.targetState;
  announce(state === "ready" ? "Target restarted and ready: space fires." : `Target restarted: ${state || "unknown"}.`);
});

/* ---------------- presenter mode ---------------- */

onPresenterChange(() => {
  // The canvas reads its colours once; presenter mode has its own, with more contrast.
  view.readColours();
  view.staticDirty = true;
  view.needsDraw = true;
  live.histogramDirty = true;
  rebuildChart();
  updateEmptyState();
});

/* ---------------- keyboard ---------------- */

function typingInto(el) {
  return !!el && (el.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName));
}

function focusFirstField(panelSelector) {
  // The settings are hidden in presenter mode: going to them brings them back.
  if (isPresenting()) setPresenter(false);
  const field = $(`${panelSelector} .field input, ${panelSelector} .field select`) || $(`${panelSelector} button`);
  if (field) {
    field.focus();
    field.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }
}

function toggleHelp() {
  if (ui.help.open) ui.help.close();
  else ui.help.showModal();
}

$("#help-button").addEventListener("click", toggleHelp);
ui.help.addEventListener("click", (event) => {
  if (event.target === ui.help) ui.help.close(); // a click on the backdrop
});

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  const active = document.activeElement;
  if (event.key === "Escape") {
    if (tip.cid != null) hideTip();
    return;
  }
  if (typingInto(active)) return;
  if (event.key === "?") {
    event.preventDefault();
    toggleHelp();
    return;
  }
  if (ui.help.open) return;
  // Caps lock must not turn the letter keys off.
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  switch (key) {
    case "p":
      event.preventDefault();
      togglePresenter();
      break;
    case "r":
      event.preventDefault();
      restartTarget();
      break;
    case "f":
      event.preventDefault();
      toggleFullscreen();
      break;
    case "s":
      event.preventDefault();
      setSlow(!slow.on);
      break;
    case "ArrowLeft":
    case "ArrowRight":
      // The canvas steps on its own; in presenter mode the arrows step from anywhere.
      if (!isPresenting() || (active && active.matches("[role=slider], [role=tab], [role=radio]"))) return;
      event.preventDefault();
      ui.canvas.focus({ preventScroll: true });
      stepConnection(key === "ArrowRight" ? 1 : -1);
      break;
    case "t":
      event.preventDefault();
      focusFirstField("#target-panel");
      break;
    case "b":
      event.preventDefault();
      focusFirstField("#burst-panel");
      break;
    case "l":
      event.preventDefault();
      ui.canvas.focus();
      ui.canvas.scrollIntoView({ block: "nearest", behavior: "smooth" });
      break;
    case " ": {
      // Space keeps its own meaning on buttons, links and summaries.
      if (active && active !== document.body && active !== ui.canvas && active.matches("button, a, summary, [role=button]")) return;
      const fire = $("#fire");
      if (fire && window.htmx) {
        event.preventDefault();
        // The burst panel, and the error it would show, is hidden in presenter mode.
        if (isPresenting() && fire.getAttribute("aria-disabled") === "true") {
          announce("No target is ready: nothing to fire at. Press r to restart it or 1 to 9 for a scenario.");
        }
        fire.click();
      }
      break;
    }
    default:
      // 1–9 run the guided scenario with that number, when the scenario panel is there.
      if (/^[1-9]$/.test(event.key)) {
        const scenario = document.querySelector(`#scenario-panel [data-key="${event.key}"]`);
        if (scenario && window.htmx) {
          event.preventDefault();
          scenario.click();
        }
      }
  }
});

/* ---------------- start ---------------- */

function whenAssetsReady(callback) {
  if (window.connscopeAssets?.ready) callback();
  else document.addEventListener("connscope:assets-ready", callback, { once: true });
}

whenAssetsReady(buildChart);
connect();

// For tests and the curious: the view's own tallies, per lane.
window.connscope = { view, live, slow };
