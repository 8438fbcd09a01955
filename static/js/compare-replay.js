/*
 * Two recorded runs replayed in lockstep: one scrubber, play/pause, steps and speed drive
 * both sides' lanes and counters (replay.js, each side under its own id prefix). The time is
 * each run's own, from its burst's start: with the same burst, the same moment of the
 * schedule on both sides. Used by the comparison pages and, bundled by esbuild
 * (compare-export.js), by a comparison's self-contained HTML export.
 */
import { SPEEDS, formatTime, startReplay } from "./replay.js";

export function startLockstep(runA, runB, root = document) {
  const $ = (selector) => root.querySelector(selector);
  // Each side's own section: its counters are found there, not on the other side.
  const sides = [startReplay(runA, $("#a-live-view"), "a-"), startReplay(runB, $("#b-live-view"), "b-")];
  const end = Math.max(...sides.map((side) => side.compiled.end));
  const changes = [...new Set(sides.flatMap((side) => side.compiled.changes))].sort((x, y) => x - y);

  const scrub = $("#lockstep-scrub");
  const clock = $("#lockstep-time");
  const play = $("#lockstep-play");
  const speed = $("#lockstep-speed");
  scrub.max = String(end);
  scrub.step = "any";
  for (const s of SPEEDS) speed.add(new Option(`${s}×`, String(s), s === 0.25, s === 0.25));

  let t = 0;
  let playing = false;
  let last = 0;

  function show(time, glide) {
    t = Math.max(0, Math.min(end, time));
    for (const side of sides) side.show(Math.min(t, side.compiled.end), glide);
    scrub.value = String(t);
    clock.textContent = `${formatTime(t)} / ${formatTime(end)}`;
  }

  function setPlaying(on) {
    playing = on && t < end;
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
    if (t >= end) setPlaying(false);
    else requestAnimationFrame(frame);
  }

  function step(direction) {
    setPlaying(false);
    const eps = 1e-6;
    const next = direction > 0 ? changes.find((c) => c > t + eps) : [...changes].reverse().find((c) => c < t - eps);
    if (next !== undefined) show(next, direction > 0);
  }

  scrub.addEventListener("input", () => {
    setPlaying(false);
    show(Number(scrub.value), false);
  });
  play.addEventListener("click", () => {
    if (t >= end) show(0, false);
    setPlaying(!playing);
  });
  $("#lockstep-prev").addEventListener("click", () => step(-1));
  $("#lockstep-next").addEventListener("click", () => step(1));
  root.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target instanceof HTMLInputElement && event.target.type !== "range") return;
    if (event.key === " ") {
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
    }
  });

  show(0, false);
  const handle = { show: (ms) => show(ms, false), step, sides, end, isPlaying: () => playing, time: () => t };
  if (root.defaultView) root.defaultView.connscopeLockstep = handle;
  return handle;
}
