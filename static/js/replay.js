/*
 * Replay of a recorded run on the same lanes as the live view: a scrubber, play/pause,
 * step to the previous/next state change, and speeds from 0.05× to 4× so a 3 ms 503 can
 * be watched by a class. Everything shown is read off the run's own records.
 *
 * Used by the replay page (/runs/ID) and, bundled by esbuild (export.js), by the
 * self-contained HTML export, which must run from file:// with no network.
 */
import { LaneView, MAX_DOTS } from "./lanes.js";
import { OUTCOMES, STATE, STATES } from "./vocabulary.js";

export const SPEEDS = [0.05, 0.1, 0.25, 0.5, 1, 2, 4];

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

export function formatTime(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(3)} s` : `${ms.toFixed(2)} ms`;
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
  view.setCapacities(
    run.accept_queue_capacity ?? run.settings.backlog,
    run.settings.limit_concurrency,
    run.settings.workers ?? 1,
    (run.workers ?? []).map((w) => w.pid),
  );
  // The bins are sized for the run's final tally from the start: they never jump while it plays.
  view.planBins(finalBins(compiled));

  const scrub = $("#replay-scrub");
  const clock = $("#replay-time");
  const play = $("#replay-play");
  const speed = $("#replay-speed");
  const controlled = scrub !== null;
  if (controlled) {
    scrub.max = String(compiled.end);
    scrub.step = "any";
    for (const s of SPEEDS) speed.add(new Option(`${s}×`, String(s), s === 0.25, s === 0.25));
  }

  let t = 0;
  let shownAt = -1;
  let playing = false;
  let last = 0;

  function show(time, glide) {
    t = Math.max(0, Math.min(compiled.end, time));
    const { rows, counts, totals } = countsAt(compiled, t);
    if (!glide || t < shownAt) view.reset();
    view.applyRows(rows, !glide || t < shownAt);
    shownAt = t;
    if (controlled) {
      scrub.value = String(t);
      clock.textContent = `${formatTime(t)} / ${formatTime(compiled.end)}`;
    }
    for (const [name, value] of Object.entries({ ...counts, ...totals })) {
      for (const el of root.querySelectorAll(`[data-count="${name}"]`)) {
        el.textContent = String(value);
        el.dataset.value = String(value);
      }
    }
  }

  function setPlaying(on) {
    playing = on && t < compiled.end;
    if (!controlled) return;
    play.textContent = playing ? "❚❚ pause" : "▶ play";
    play.setAttribute("aria-pressed", String(playing));
    last = performance.now();
    if (playing) requestAnimationFrame(frame);
  }

  function frame(now) {
    if (!playing) return;
    const advance = (now - last) * Number(speed.value);
    last = now;
    show(t + advance, true);
    if (t >= compiled.end) setPlaying(false);
    else requestAnimationFrame(frame);
  }

  function step(direction) {
    setPlaying(false);
    const eps = 1e-6;
    const next = direction > 0
      ? compiled.changes.find((c) => c > t + eps)
      : [...compiled.changes].reverse().find((c) => c < t - eps);
    if (next !== undefined) show(next, direction > 0);
  }

  const handle = { show: (ms, glide = false) => show(ms, glide), step, compiled, view };
  if (!controlled) {
    show(0, false);
    return handle;
  }

  scrub.addEventListener("input", () => {
    setPlaying(false);
    show(Number(scrub.value), false);
  });
  play.addEventListener("click", () => {
    if (t >= compiled.end) show(0, false);
    setPlaying(!playing);
  });
  $("#replay-prev").addEventListener("click", () => step(-1));
  $("#replay-next").addEventListener("click", () => step(1));
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
    else help.showModal();
  }
  $("#help-button")?.addEventListener("click", toggleHelp);
  help?.addEventListener("click", (event) => {
    if (event.target === help) help.close();
  });
  // Presenter mode has its own type and colours: the canvas reads them again.
  new MutationObserver(() => view.readColours()).observe(page, { attributes: true, attributeFilter: ["data-presenter"] });

  root.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target instanceof HTMLInputElement && event.target.type !== "range") return;
    if (event.key === "?") {
      event.preventDefault();
      toggleHelp();
      return;
    }
    if (help?.open) return;
    if ((event.key === "p" || event.key === "P") && !(event.target instanceof HTMLSelectElement)) {
      event.preventDefault();
      setPresenter(page.dataset.presenter !== "on");
    } else if (event.key === " ") {
      event.preventDefault();
      play.click();
    } else if (event.key === "ArrowRight") {
      event.preventDefault();
      step(1);
    } else if (event.key === "ArrowLeft") {
      event.preventDefault();
      step(-1);
    } else if (event.key === "Home") {
      show(0, false);
    } else if ((event.key === "f" || event.key === "F") && !event.ctrlKey && !event.metaKey && !event.altKey
               && !(event.target instanceof HTMLSelectElement)) {
      // Fullscreen for a projector, as on the live page.
      event.preventDefault();
      if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
      else page.requestFullscreen?.().catch(() => {});
    }
  });

  show(0, false);
  // A handle for tests and the console: jump to a time, step, inspect the compiled run.
  if (root.defaultView) root.defaultView.connscopeReplay = handle;
  return handle;
}
