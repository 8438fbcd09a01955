/*
 * A connection's own timeline: shown on hover, pinned on a tap, stepped with the arrow keys;
 * its states and requests fetched from the API once the pointer rests on its dot.
 */
import { element, placeTipAt, renderConnection, tipHeading } from "./connection-tip.js";
import { live, ui, view } from "./live-page.js";

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

function renderTipLoading(cid) {
  ui.tip.innerHTML = "";
  ui.tip.append(tipHeading(cid, null), element("p", "dot-tip__loading", "loading its timeline…"));
}

function renderTip(cid, data) {
  // The endpoint's times run from the start of the connection's burst, and so does its
  // `now_ms`: the stream's own clock (from the target's start) is another one.
  const now = data.now_ms == null ? null : data.now_ms + (performance.now() - (data.fetchedAt ?? performance.now()));
  renderConnection(ui.tip, cid, data, now);
  placeTip();
}

export function placeTip() {
  const position = view.dotPosition(tip.cid);
  if (!position) return;
  placeTipAt(ui.tip, ui.stage, position);
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
