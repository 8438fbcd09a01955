/*
 * A connection's own timeline, drawn into a tip over the lanes: its client kind, its states
 * with their times, and its requests (path, outcome, status, latency). The live page fills
 * it from the API (tooltip.js), the replay from the run's records as of the scrubbed moment
 * (replay.js); both give the connection as the run contract has it.
 */
import { STATE, glyphOf, toneOf } from "./vocabulary.js";

export function formatDuration(ms) {
  if (ms >= 1000) return (ms / 1000).toFixed(ms >= 10000 ? 1 : 2) + " s";
  if (ms >= 10) return ms.toFixed(0) + " ms";
  return ms.toFixed(ms >= 1 ? 1 : 2) + " ms";
}

export function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text != null) el.textContent = text;
  return el;
}

/** "connection 7" and, once its record is known, its client kind, port and burst. */
export function tipHeading(cid, data) {
  const head = element("div", "dot-tip__head");
  head.append(element("strong", null, `connection ${cid}`));
  if (data) {
    const about = element("span", null, `${data.client ?? "normal"} client · port ${data.port ?? "?"} · burst ${data.burst ?? "?"}`);
    about.dataset.client = data.client ?? "normal";
    head.append(about);
  }
  return head;
}

/**
 * Fills `tip` with connection `cid`'s record `data`: `states` [[state, ms]] and `requests`
 * (a request without an outcome is still pending). `now` (ms, the states' clock; null: not
 * known) is how long a state not yet left has lasted.
 */
export function renderConnection(tip, cid, data, now) {
  tip.innerHTML = "";
  tip.append(tipHeading(cid, data));
  const states = data.states || [];
  if (states.length) {
    const start = states[0][1];
    const lastState = states[states.length - 1];
    const end = lastState[0] === STATE.CLOSED ? lastState[1] : Math.max(lastState[1], now ?? lastState[1]);
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
    tip.append(bar, list);
  }
  const requests = data.requests || [];
  if (!requests.length) {
    tip.append(element("p", "dot-tip__loading", "no request finished yet"));
    return;
  }
  const columns = ["#", "path", "outcome", "status", "latency"];
  const table = element("table", "tip-requests");
  const head = table.createTHead().insertRow();
  for (const title of columns) head.append(element("th", null, title));
  const body = table.createTBody();
  requests.forEach((request, k) => {
    const row = body.insertRow();
    const outcome = request.outcome || "pending";
    row.dataset.outcome = outcome;
    row.insertCell().textContent = String(k + 1);
    const path = row.insertCell();
    path.className = "tip-requests__path";
    // Runs recorded before paths were kept have none.
    path.textContent = request.path ?? "–";
    const cell = row.insertCell();
    cell.append(element("i", `glyph ${toneOf(outcome)}`, glyphOf(outcome)), document.createTextNode(" " + outcome));
    row.insertCell().textContent = request.status ?? "–";
    row.insertCell().textContent = request.latency_ms == null ? "–" : formatDuration(request.latency_ms);
    const notes = [request.error, request.timeout_state && `timed out while ${request.timeout_state}`].filter(Boolean);
    if (notes.length) {
      const note = body.insertRow();
      note.className = "tip-requests__note";
      const noteCell = note.insertCell();
      noteCell.colSpan = columns.length;
      noteCell.textContent = notes.join(" · ");
    }
  });
  tip.append(table);
}

/** Puts `tip` beside the dot at `position` ({x, y, r}, CSS pixels of `stage`), inside the stage. */
export function placeTipAt(tip, stage, position) {
  const width = tip.offsetWidth;
  const height = tip.offsetHeight;
  let x = position.x + position.r + 12;
  if (x + width > stage.clientWidth - 6) x = position.x - position.r - 12 - width;
  let y = position.y - 24;
  y = Math.min(Math.max(6, y), Math.max(6, stage.clientHeight - height - 6));
  x = Math.max(6, x);
  tip.style.transform = `translate(${Math.round(x)}px, ${Math.round(y)}px)`;
}
