/*
 * Two recorded runs replayed in lockstep: one scrubber, play/pause, steps and speed drive
 * both sides' lanes and counters (replay.js, each side under its own id prefix). The time is
 * each run's own, from its burst's start: with the same burst, the same moment of the
 * schedule on both sides. Used by the comparison pages and, bundled by esbuild
 * (compare-export.js), by a comparison's self-contained HTML export.
 */
import { ReplayClock, ignoredKey } from "./replay-clock.js";
import { startReplay } from "./replay.js";
import { onPresenterChange } from "./screen.js";

export function startLockstep(runA, runB, root = document) {
  const $ = (selector) => root.querySelector(selector);
  // Each side's own section: its counters are found there, not on the other side.
  const sides = [startReplay(runA, $("#a-live-view"), "a-"), startReplay(runB, $("#b-live-view"), "b-")];
  const end = Math.max(...sides.map((side) => side.compiled.end));
  const changes = [...new Set(sides.flatMap((side) => side.compiled.changes))].sort((x, y) => x - y);
  const clock = new ReplayClock({
    end,
    changes,
    render(t, glide) {
      for (const side of sides) side.show(Math.min(t, side.compiled.end), glide);
    },
    controls: {
      scrub: $("#lockstep-scrub"),
      clock: $("#lockstep-time"),
      play: $("#lockstep-play"),
      speed: $("#lockstep-speed"),
      prev: $("#lockstep-prev"),
      next: $("#lockstep-next"),
    },
  });
  root.addEventListener("keydown", (event) => {
    if (!ignoredKey(event)) clock.handleKey(event);
  });
  // A canvas reads its colours and scales once; presenter mode (screen.js: p, f) has its own.
  onPresenterChange(() => {
    for (const side of sides) side.view.readColours();
  });

  clock.show(0, false);
  const handle = {
    show: (ms) => clock.show(ms, false),
    step: (direction) => clock.step(direction),
    sides,
    end,
    isPlaying: () => clock.playing,
    time: () => clock.t,
  };
  if (root.defaultView) root.defaultView.connscopeLockstep = handle;
  return handle;
}
