/*
 * Reset: the same target again, and an empty view, from the `r` key or the target panel's
 * Restart button.
 */
import { $, CONTROL, live } from "./live-page.js";
import { announce } from "./screen.js";

const RESTART_PATH = "/targets/current/restart";
let restarting = false;
let clearView = () => {};

function isOk(detail) {
  return !!detail.xhr && detail.xhr.status >= 200 && detail.xhr.status < 300;
}

/** `r`: stops the current target and starts it again with the same settings. */
export function restartTarget() {
  if (!CONTROL) {
    announce("This is the read-only view: only the presenter can restart the target.");
    return;
  }
  if (!window.htmx || restarting) return;
  if (!live.target) {
    announce("Nothing to reset: start a target first, or press a number key (1–9, 0) for a guided scenario.");
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

/** `empty` clears the view when a restart is sent: it fills again from the next snapshot. */
export function onRestart(empty) {
  clearView = empty;
}
