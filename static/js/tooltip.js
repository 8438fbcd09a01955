/*
 * A connection's own timeline: shown on hover, pinned on a tap, stepped with the arrow keys;
 * its states and requests fetched from the API once the pointer rests on its dot.
 */
import { STATE, glyphOf, toneOf } from "./vocabulary.js";
import { live, ui, view } from "./live-page.js";
import { formatDuration } from "./numbers.js";

const TIP_FETCH_DELAY_MS = 60;

export const tip = {
  cid: null,
  pinned: false,
  follow: false,
  lane: null,
  controller: null,
  timer: 0,
  cache: new Map(), // cid → {lane, data}
};

export function hideTip() {
  tip.cid = null;
  tip.pinned = false;
  tip.follow = false;
  clearTimeout(tip.timer);
  tip.controller?.abort();
  ui.tip.hidden = true;
  view.select(null);
  ui.canvas.removeAttribute("aria-describedby");
}

export function showTip(cid, pinned) {
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

export function refreshTipIfMoved() {
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
    const end = lastState[0] === STATE.CLOSED ? lastState[1] : Math.max(lastState[1], now);
    const span = Math.max(end - start, 0.001);
    const bar = element("div", "timeline-bar");
    const list = element("ol", "timeline-list");
    states.forEach(([state, t], k) => {
      const next = states[k + 1];
      const until = next ? next[1] : state === STATE.CLOSED ? t : end;
      const duration = until - t;
      if (state !== STATE.CLOSED) {
        const segment = element("span", `timeline-bar__seg ${toneOf(state)}`);
        segment.style.flexGrow = String(Math.max(duration / span, 0.015));
        segment.title = `${state} ${formatDuration(duration)}`;
        bar.append(segment);
      }
      const row = element("li");
      row.dataset.state = state;
      row.append(
        element("i", `swatch ${toneOf(state)}`),
        element("span", "timeline-list__state", state),
        element("span", "timeline-list__at", "+" + formatDuration(t - start)),
        element("span", "timeline-list__for", state === STATE.CLOSED ? "" : next ? formatDuration(duration) : "so far " + formatDuration(duration)),
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
      cell.append(element("i", `glyph ${toneOf(outcome)}`, glyphOf(outcome)), document.createTextNode(" " + outcome));
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

export function placeTip() {
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
export function stepConnection(direction) {
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

/** While its dot glides, the tip follows it (once per animation frame). */
export function followTip() {
  if (tip.cid != null && tip.follow) placeTip();
}
