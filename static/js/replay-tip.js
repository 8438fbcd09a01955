/*
 * A replayed connection's own timeline, as the live page shows one: on hover, pinned on a
 * tap, read off the run's record as of the moment shown (what had happened by then, no more).
 */
import { placeTipAt, renderConnection } from "./connection-tip.js";

const EPS = 1e-6;

/** The record as it stood at `t` ms: the states entered by then, the requests begun by then
 * (one not finished by then is pending: no outcome, status or latency yet). */
export function recordAt(connection, t) {
  const requests = [];
  for (const request of connection.requests) {
    if (request.start_ms != null && request.start_ms > t + EPS) continue;
    const finished = request.outcome != null && (request.done_ms == null || request.done_ms <= t + EPS);
    requests.push(finished ? request : { path: request.path ?? null, outcome: null, status: null, latency_ms: null });
  }
  return {
    ...connection,
    states: connection.states.filter(([, since]) => since <= t + EPS),
    requests,
  };
}

export class ReplayTip {
  /** `tip`: the element it is drawn into, inside `stage` over `canvas`; `view`: the lanes. */
  constructor({ tip, stage, canvas, view, connections }) {
    Object.assign(this, { tip, stage, canvas, view, connections });
    this.cid = null;
    this.pinned = false;
    this.t = 0;
    const at = (event) => {
      const rect = canvas.getBoundingClientRect();
      return view.cidAt(event.clientX - rect.left, event.clientY - rect.top);
    };
    canvas.addEventListener("pointermove", (event) => {
      if (event.pointerType !== "touch" && !this.pinned) this.show(at(event), false);
    });
    canvas.addEventListener("pointerleave", () => {
      if (!this.pinned) this.hide();
    });
    canvas.addEventListener("pointerdown", (event) => {
      const cid = at(event);
      if (cid !== this.cid) this.hide();
      this.show(cid, true);
    });
    canvas.ownerDocument.addEventListener("pointerdown", (event) => {
      if (this.pinned && !stage.contains(event.target)) this.hide();
    });
    canvas.ownerDocument.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.hide();
    });
  }

  show(cid, pinned) {
    if (cid == null) {
      this.hide();
      return;
    }
    this.pinned = this.pinned || pinned;
    this.cid = cid;
    this.tip.hidden = false;
    this.canvas.setAttribute("aria-describedby", this.tip.id);
    this.update(this.t);
  }

  hide() {
    this.cid = null;
    this.pinned = false;
    this.tip.hidden = true;
    this.view.select(null);
    this.canvas.removeAttribute("aria-describedby");
  }

  /** The moment shown is now `t`: the tip says what its connection had done by then. */
  update(t) {
    this.t = t;
    if (this.cid == null) return;
    const position = this.view.dotPosition(this.cid);
    if (!position) {
      this.hide();
      return;
    }
    this.view.select(this.cid);
    const connection = this.connections[this.cid];
    renderConnection(this.tip, connection.id ?? this.cid, recordAt(connection, t), t);
    placeTipAt(this.tip, this.stage, position);
  }
}
