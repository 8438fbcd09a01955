/*
 * Slow motion: the live view at 0.25×.
 *
 * A live run is over in a few seconds. In slow motion every frame is held and shown at a
 * quarter of the pace it happened, the whole page at once (lanes, counters, gauge, charts),
 * so the screen always shows one true moment of the run, only later. Pauses inside a run
 * are slowed too; once the run is over and everything held has been shown, the view is live
 * again. The badge says so all the while, with how far behind it is.
 */
import { announce } from "./screen.js";
import { ui } from "./live-page.js";

const SLOW_RATE = 0.25;
const SLOW_MAX_FRAMES = 20000;

/** `apply` shows one held frame: the page applies it as if it came now. */
export function slowMotion(apply) {
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
    for (const frame of slow.queue) apply(frame);
    slow.queue.length = 0;
    slow.playing = false;
  }

  function playSlow(now) {
    if (!slow.playing) return;
    const shownT = slow.fromT + (now - slow.fromAt) * SLOW_RATE;
    let k = 0;
    while (k < slow.queue.length && slow.queue[k].t_ms <= shownT) apply(slow.queue[k++]);
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
    // A finding written from the finished run would tell the end before the view shows it.
    document.documentElement.dataset.slowBehind = String(slow.on && slow.playing);
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
  return Object.assign(slow, { holdFrame, catchUp, playSlow, renderSlowBadge, setSlow });
}
