/*
 * The numbers: counters per state and outcome, the accept-queue gauge and the peaks, the
 * percentiles, and what they cover. Written once per animation frame, only where changed.
 */
import { OPEN_STATES, OUTCOME, OUTCOMES, STATE, STATES, engineWords } from "./vocabulary.js";
import { live, ui, view } from "./live-page.js";
import { latencyCount, PERCENTILES } from "./histogram.js";
import { slotCapacity } from "./slots.js";

const countElements = new Map();
for (const el of document.querySelectorAll("[data-count]")) {
  const list = countElements.get(el.dataset.count) || [];
  list.push(el);
  countElements.set(el.dataset.count, list);
}
const shown = new Map();

/** Writes a number (or "–" for unknown) into every [data-count=name], only when it changed. */
export function setCount(name, value, text) {
  const display = text ?? (value == null ? "–" : String(value));
  // Keyed on the value too: two figures can read the same once formatted (0.097 and 0.103
  // both "0.1 ms"), and the element's data-value must still be the latest.
  const key = `${display}\u0000${value}`;
  if (shown.get(name) === key) return;
  shown.set(name, key);
  for (const el of countElements.get(name) || []) {
    el.textContent = display;
    el.dataset.value = value == null ? "" : String(value);
  }
}

/** Milliseconds as every page and report shows them (app/numbers.py's ms_text): 3
 * significant digits, whole from 100 up, thousands separated: 304.788 → "305". */
export function formatMs(ms) {
  if (ms == null) return "–";
  if (ms === 0) return "0";
  if (Math.abs(ms) >= 99.95) return Math.round(ms).toLocaleString("en-US");
  return String(Number(ms.toPrecision(3)));
}

/* ---------------- what the numbers cover ---------------- */

/*
 * The stream's counts, totals, peaks and latencies cover every burst fired at the current
 * target since it started (a second burst joins the timeline). Say so wherever they show.
 */
let shownScope = "";

export function updateScope(target) {
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

/* ---------------- counters, gauge, percentiles (once per animation frame) ---------------- */

let shownWords = null;

/** The counters' and the numbers card's words for the target's server: what holds an
 * accepted connection, what a 503 means there, the setting that bounds the slots. */
function showEngineWords(words) {
  if (words === shownWords) return;
  shownWords = words;
  const accepted = document.querySelector(`.counter[data-state="${STATE.ACCEPTED}"]`);
  if (accepted) accepted.title = words.accepted_hint;
  const rejected = document.querySelector(`.counter[data-outcome="${OUTCOME.REJECTED}"]`);
  if (rejected) {
    rejected.title = words.rejected_hint;
    const note = rejected.querySelector("small");
    if (note) note.textContent = words.rejected_hint;
  }
  const slots = document.querySelector('dd[data-count="slots"]')?.previousElementSibling;
  if (slots) slots.textContent = words.slots_label;
}

export function renderNumbers() {
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
  for (const state of OPEN_STATES) setCount("peak-" + state, peaks[state] ?? null);
  // The gauge is the kernel's queue: its mark is the kernel's own peak, not the records'.
  const kernelPeak = peaks.accept_queue ?? null;
  setCount("peak-accept-queue", kernelPeak);
  if (places && kernelPeak != null) {
    ui.gaugePeak.hidden = false;
    ui.gaugePeak.style.left = `${Math.min(1, kernelPeak / places) * 100}%`;
    ui.gaugePeak.title = `kernel peak: ${kernelPeak}`;
  } else ui.gaugePeak.hidden = true;
  const limit = live.target ? slotCapacity(live.target.settings) : null;
  const workers = live.target?.settings?.workers ?? 1;
  // uvicorn's limit is per process: with more workers, say so rather than show one pool.
  const words = engineWords(live.target?.settings);
  showEngineWords(words);
  const none = words.gate_setting ? "no limit" : "no gate";
  const slotsText = limit == null ? none : workers > 1 ? `${limit} per worker × ${workers}` : String(limit);
  setCount("slots", limit ?? null, live.target ? slotsText : "–");

  const latency = summary.latency_ms || {};
  const connectMs = summary.connect_ms || {};
  // The server's HDR figures, as the run's result has them: none computed here.
  for (const { key } of PERCENTILES) {
    setCount("latency-" + key, latency[key] ?? null, formatMs(latency[key]));
    setCount("connect-" + key, connectMs[key] ?? null, formatMs(connectMs[key]));
  }
  setCount("latency-samples", latencyCount());
}
