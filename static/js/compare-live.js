/*
 * The compare page's two live views: each side's lanes (lanes.js) and counters follow that
 * side's own target stream (`/ws?target=ID`). The sides' target ids come from the status
 * panel (#compare-status, refreshed by htmx while the comparison runs); a new comparison
 * connects both views to its new targets. The settings form marks the fields where A and
 * B differ. Presenter mode and fullscreen (p, f) are screen.js's, as on the live page.
 */
import { slotCapacity } from "./slots.js";
import { LaneView } from "./lanes.js";
import { onPresenterChange } from "./screen.js";

const RECONNECT_MS = 1000;

class SideView {
  constructor(prefix) {
    const $ = (id) => document.getElementById(prefix + id);
    this.root = $("live-view");
    this.status = $("stream-status");
    this.view = new LaneView({ stage: $("stage"), canvas: $("lanes"), overlay: $("lane-overlay") });
    this.socket = null;
    this.targetId = null;
    this.target = null;
  }

  follow(targetId) {
    if (targetId === this.targetId) return;
    this.targetId = targetId;
    this.socket?.close();
    this.socket = null;
    if (targetId) this.open();
  }

  open() {
    const id = this.targetId;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(`${scheme}${location.host}/ws?target=${encodeURIComponent(id)}`);
    this.socket = socket;
    this.setStatus("connecting", "connecting…");
    socket.addEventListener("message", (event) => this.onFrame(JSON.parse(event.data)));
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      this.setStatus("offline", "reconnecting…");
      setTimeout(() => {
        if (this.socket === socket) this.open();
      }, RECONNECT_MS);
    });
  }

  onFrame(frame) {
    // A delta carries the target's status only when it changed: without one, the last holds.
    if (frame.type === "snapshot" || "target" in frame) this.target = frame.target ?? null;
    const target = this.target;
    if (frame.type === "snapshot") {
      const backlog = frame.queue?.capacity ?? target?.capacity ?? target?.settings?.backlog ?? null;
      this.view.setServer(target?.settings);
      this.view.setCapacities(backlog, target ? slotCapacity(target.settings) : undefined);
      this.view.reset();
      this.view.applyRows(frame.connections || [], true);
    } else if (frame.type === "delta") {
      if (frame.queue?.capacity != null) {
        this.view.setCapacities(frame.queue.capacity, target ? slotCapacity(target.settings) : undefined);
      }
      if (frame.changes?.length) this.view.applyRows(frame.changes);
    }
    this.root.dataset.target = String(target?.id ?? "");
    // Green only while the target can still move: a stopped side's view is its last word.
    const running = target && (target.state === "ready" || target.state === "starting");
    this.setStatus(running ? "live" : "ended", target ? `target ${target.id} · ${target.state}` : "no target");
    for (const [name, value] of Object.entries({ ...frame.counts, ...frame.totals })) {
      const el = this.root.querySelector(`[data-count="${name}"]`);
      if (el) {
        el.textContent = String(value);
        el.dataset.value = String(value);
      }
    }
  }

  setStatus(state, text) {
    this.status.dataset.state = state;
    this.status.textContent = text;
  }
}

const sides = { a: new SideView("a-"), b: new SideView("b-") };

function followStatus() {
  const status = document.getElementById("compare-status");
  if (!status) return;
  sides.a.follow(status.dataset.targetA || null);
  sides.b.follow(status.dataset.targetB || null);
}

/** Marks the settings where A and B differ, as the user types. */
function markDifferences() {
  const form = document.getElementById("compare-form");
  if (!form) return;
  for (const name of form.dataset.fields.split(",")) {
    const inputs = ["a", "b"].map((side) => document.getElementById(`${side}-${name}`));
    if (inputs.some((input) => !input)) continue;
    const [a, b] = inputs.map((input) => (input.type === "checkbox" ? String(input.checked) : input.value.trim()));
    for (const input of inputs) input.closest(".field")?.classList.toggle("differs", a !== b);
  }
}

document.addEventListener("input", markDifferences);
document.addEventListener("change", markDifferences);
document.body.addEventListener("htmx:afterSettle", () => {
  followStatus();
  markDifferences();
});
followStatus();
markDifferences();

onPresenterChange(() => {
  // A canvas reads its colours and scales once; presenter mode has its own (larger, more contrast).
  for (const side of Object.values(sides)) side.view.readColours();
});

// The form fills a 1024 x 768 screen: a comparison it started brings the two live views up,
// rather than leaving them a scroll below while they run.
document.body.addEventListener("connscope:compare-started", () => {
  document.querySelector(".compare-sides")?.scrollIntoView({ block: "start" });
});

// For tests and the curious: each side's view and the target it follows.
window.connscopeCompare = { sides };
