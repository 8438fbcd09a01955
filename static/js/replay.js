/*
 * Replay of a recorded run on the same lanes as the live view: a scrubber, play/pause,
 * step to the previous/next state change, and speeds from 0.05× to 4× so a 3 ms 503 can
 * be watched by a class; a dot's own timeline on hover. Everything shown is read off the
 * run's own records.
 *
 * Used by the replay page (/runs/ID) and, bundled by esbuild (export.js), by the
 * self-contained HTML export, which must run from file:// with no network.
 */
import { slotCapacity } from "./slots.js";
import { LaneView, MAX_DOTS } from "./lanes.js";
import { ReplayClock, ignoredKey } from "./replay-clock.js";
import { ReplayTip } from "./replay-tip.js";
import { OUTCOMES, STATE, STATES } from "./vocabulary.js";

/** Per connection: its state changes and its requests' outcomes with their times. */
function compile(run) {
  const connections = run.connections.map((c, cid) => ({
    cid,
    burst: c.burst ?? 1,
    worker_pid: c.worker_pid ?? null,
    states: c.states.map(([state, t]) => [state, t]),
    requests: c.requests.filter((r) => r.outcome != null),
  }));
  const changes = [...new Set(connections.flatMap((c) => c.states.map(([, t]) => t)))].sort((a, b) => a - b);
  const end = changes.length ? changes[changes.length - 1] : 0;
  return { connections, changes, end };
}

/** The connection's row [cid, burst, state, outcome, t, worker pid] at time t, or null before it starts. */
function rowAt(c, t) {
  let current = null;
  for (const change of c.states) {
    if (change[1] > t) break;
    current = change;
  }
  if (!current) return null;
  const [state, since] = current;
  let outcome = null;
  if (state === STATE.CLOSED) {
    const done = c.requests.filter((r) => r.done_ms == null || r.done_ms <= t + 1e-6);
    outcome = done.length ? done[done.length - 1].outcome : null;
  }
  return [c.cid, c.burst, state, outcome, since, c.worker_pid ?? null];
}

function countsAt(compiled, t) {
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  const totals = Object.fromEntries(OUTCOMES.map((o) => [o, 0]));
  totals.requests = 0;
  const rows = [];
  for (const c of compiled.connections) {
    const row = rowAt(c, t);
    if (!row) continue;
    rows.push(row);
    counts[row[2]] += 1;
    for (const r of c.requests) {
      if (r.done_ms != null && r.done_ms <= t + 1e-6) {
        totals[r.outcome] += 1;
        totals.requests += 1;
      }
    }
  }
  return { rows, counts, totals };
}

/** How many connections end in each bin: the last outcome of each, or "unfinished". */
function finalBins(compiled) {
  const bins = {};
  for (const [, , state, outcome] of countsAt(compiled, compiled.end).rows) {
    if (state !== STATE.CLOSED) continue;
    const key = outcome ?? "unfinished";
    bins[key] = (bins[key] || 0) + 1;
  }
  return bins;
}

/**
 * `root` (the document, or an element) holds the replay's elements; `prefix` starts their ids (a comparison's two sides,
 * "a-" and "b-", on one page). Without transport controls in `root` the replay is driven
 * from outside through the handle it returns (a comparison's lockstep, compare-replay.js).
 */
export function startReplay(run, root = document, prefix = "") {
  const $ = (selector) => root.querySelector(selector.replace(/^#/, `#${prefix}`));
  const compiled = compile(run);
  const note = $("#aggregate-note");
  const view = new LaneView({
    stage: $("#stage"),
    canvas: $("#lanes"),
    overlay: $("#lane-overlay"),
    onModeChange(aggregated, connections) {
      if (!note) return;
      note.hidden = !aggregated;
      if (aggregated) note.textContent = `${connections} connections: above ${MAX_DOTS} the view shows counts per lane instead of dots.`;
    },
  });
  view.setServer(run.settings);
  view.setCapacities(
    run.accept_queue_capacity ?? run.settings.backlog,
    slotCapacity(run.settings),
    run.settings.workers ?? 1,
    (run.workers ?? []).map((w) => w.pid),
  );
  // The bins are sized for the run's final tally from the start: they never jump while it plays.
  view.planBins(finalBins(compiled));
  const tipElement = $("#dot-tip");
  const tip = tipElement && new ReplayTip({
    tip: tipElement,
    stage: $("#stage"),
    canvas: $("#lanes"),
    view,
    connections: run.connections,
  });

  let shownAt = -1;
  function render(t, glide) {
    const { rows, counts, totals } = countsAt(compiled, t);
    if (!glide || t < shownAt) view.reset();
    view.applyRows(rows, !glide || t < shownAt);
    shownAt = t;
    tip?.update(t);
    for (const [name, value] of Object.entries({ ...counts, ...totals })) {
      for (const el of root.querySelectorAll(`[data-count="${name}"]`)) {
        el.textContent = String(value);
        el.dataset.value = String(value);
      }
    }
  }

  const scrub = $("#replay-scrub");
  const controls = scrub && {
    scrub,
    clock: $("#replay-time"),
    play: $("#replay-play"),
    speed: $("#replay-speed"),
    prev: $("#replay-prev"),
    next: $("#replay-next"),
  };
  const clock = new ReplayClock({ end: compiled.end, changes: compiled.changes, render, controls });
  const handle = { show: (ms, glide = false) => clock.show(ms, glide), step: (direction) => clock.step(direction), compiled, view, tip };
  if (!controls) {
    clock.show(0, false);
    return handle;
  }

  /* Presenter mode, as on the live page: `p`, the button, or ?present=1 (the server renders it on). */
  const page = root.documentElement || document.documentElement;
  const presenterButton = $("#presenter-toggle");
  const help = $("#key-help");
  function setPresenter(on) {
    page.dataset.presenter = on ? "on" : "off";
    presenterButton?.setAttribute("aria-pressed", String(on));
    // A reload keeps the mode (a file:// export has no address to keep it in).
    const win = root.defaultView;
    if (win && win.location.protocol !== "file:") {
      const url = new URL(win.location.href);
      if (on) url.searchParams.set("present", "1");
      else url.searchParams.delete("present");
      win.history.replaceState(win.history.state, "", url);
    }
  }
  if (new URLSearchParams(root.defaultView?.location.search || "").get("present") === "1") setPresenter(true);
  presenterButton?.addEventListener("click", () => setPresenter(page.dataset.presenter !== "on"));
  function toggleHelp() {
    if (!help) return;
    if (help.open) help.close();
    else {
      help.showModal();
      // Close (at the bottom, autofocused for Enter) scrolled a short screen's dialog past its heading.
      help.scrollTop = 0;
    }
  }
  $("#help-button")?.addEventListener("click", toggleHelp);
  help?.addEventListener("click", (event) => {
    if (event.target === help) help.close();
  });
  // Presenter mode has its own type and colours: the canvas reads them again.
  new MutationObserver(() => view.readColours()).observe(page, { attributes: true, attributeFilter: ["data-presenter"] });

  root.addEventListener("keydown", (event) => {
    if (ignoredKey(event)) return;
    if (event.key === "?") {
      event.preventDefault();
      toggleHelp();
      return;
    }
    if (help?.open || clock.handleKey(event)) return;
    if ((event.key === "p" || event.key === "P") && !(event.target instanceof HTMLSelectElement)) {
      event.preventDefault();
      setPresenter(page.dataset.presenter !== "on");
    } else if ((event.key === "f" || event.key === "F") && !(event.target instanceof HTMLSelectElement)) {
      // Fullscreen for a projector, as on the live page.
      event.preventDefault();
      if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
      else page.requestFullscreen?.().catch(() => {});
    }
  });

  clock.show(0, false);
  // A handle for tests and the console: jump to a time, step, inspect the compiled run.
  if (root.defaultView) root.defaultView.connscopeReplay = handle;
  return handle;
}
