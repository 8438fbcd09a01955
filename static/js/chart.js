/*
 * Connections per state over time (uPlot): the stream's history on a snapshot, a point per
 * frame after it, redrawn at most every CHART_REDRAW_MS.
 */
import { STATE_TERMS } from "./vocabulary.js";
import { cssVar, live, ui } from "./live-page.js";
import { isPresenting } from "./screen.js";

const CHART_STATES = STATE_TERMS.map((term) => term.key);
const CHART_MAX_POINTS = 6000;
const CHART_REDRAW_MS = 100;

const chart = {
  plot: null,
  data: [[], ...CHART_STATES.map(() => [])],
  dirty: false,
  drawnAt: 0,
};

export function clearChart() {
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
export function loadChartHistory(history) {
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

export function appendChartPoint(frame) {
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
function chartXRange() {
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

export function buildChart() {
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
        // Line styles as well as colours, so the series stay apart in grey-scale too.
        ...STATE_TERMS.map((term) => ({
          label: term.label,
          stroke: cssVar(term.colour, "#ccc"),
          width: term.weight * (presenting ? 1.5 : 1),
          dash: term.dash.length ? term.dash : undefined,
          paths: stepped,
          points: { show: false },
          // closed only grows and would flatten the others: off until asked for.
          show: !term.final,
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
export function rebuildChart() {
  if (!chart.plot) return;
  chart.observer?.disconnect();
  chart.plot.destroy();
  chart.plot = null;
  buildChart();
}

export function renderChart(now) {
  if (!chart.plot || !chart.dirty || now - chart.drawnAt < CHART_REDRAW_MS) return;
  chart.dirty = false;
  chart.drawnAt = now;
  chart.plot.setData(chart.data);
}
