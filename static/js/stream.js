/*
 * The stream: one WebSocket to /ws, its frames handed on as they come, and a reconnect
 * with back-off and jitter when it drops. The status in the top bar says which.
 */
import { ui } from "./live-page.js";

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5000;

let retryMs = RECONNECT_MIN_MS;
let retryTimer = 0;

/** Opens the stream; `onFrame` gets each frame, parsed. */
export function openStream(onFrame) {
  clearTimeout(retryTimer);
  // The WebSocket's own state (its words are the page's, not a connection's).
  setStreamStatus("connecting", "connecting…");
  const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
  socket.addEventListener("message", (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch (error) {
      console.error("connscope: unreadable frame", error);
      return;
    }
    onFrame(frame);
    retryMs = RECONNECT_MIN_MS;
    setStreamStatus("live", "live");
  });
  socket.addEventListener("close", () => {
    // Jitter keeps many viewers from reconnecting in lock-step after a server restart.
    const wait = Math.round(retryMs * (0.75 + Math.random() * 0.5));
    setStreamStatus("offline", `reconnecting in ${Math.max(1, Math.round(wait / 1000))} s…`);
    retryTimer = setTimeout(() => openStream(onFrame), wait);
    retryMs = Math.min(RECONNECT_MAX_MS, retryMs * 2);
  });
}

function setStreamStatus(state, text) {
  if (ui.streamStatus.dataset.state === state && ui.streamStatus.textContent === text) return;
  ui.streamStatus.dataset.state = state;
  ui.streamStatus.textContent = text;
}
