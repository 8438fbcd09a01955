/*
 * A replay's transport: the time shown, play/pause at a chosen speed one animation frame at
 * a time, steps to the previous/next state change, and the scrubber, buttons and keys that
 * drive them. replay.js runs one recorded run on it, compare-replay.js two in lockstep.
 */

export const SPEEDS = [0.05, 0.1, 0.25, 0.5, 1, 2, 4];

export function formatTime(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(3)} s` : `${ms.toFixed(2)} ms`;
}

/** A key press the transport leaves alone: with a modifier, or typed into a text field. */
export function ignoredKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return true;
  return event.target instanceof HTMLInputElement && event.target.type !== "range";
}

/**
 * `render(t, glide)` draws the moment `t` ms (gliding from the moment before while playing
 * forward). `changes` are the sorted times a step stops at. `controls` ({scrub, clock, play,
 * speed, prev, next}) are the page's elements; without them the clock is driven only through
 * `show` and `step` (one side of a comparison, whose lockstep has the controls).
 */
export class ReplayClock {
  constructor({ end, changes, render, controls = null }) {
    this.end = end;
    this.changes = changes;
    this.render = render;
    this.controls = controls;
    this.t = 0;
    this.playing = false;
    this.last = 0;
    this.frame = this.frame.bind(this);
    if (!controls) return;
    const { scrub, play, speed, prev, next } = controls;
    scrub.max = String(end);
    scrub.step = "any";
    for (const s of SPEEDS) speed.add(new Option(`${s}×`, String(s), s === 0.25, s === 0.25));
    scrub.addEventListener("input", () => {
      this.setPlaying(false);
      this.show(Number(scrub.value), false);
    });
    play.addEventListener("click", () => this.toggle());
    prev.addEventListener("click", () => this.step(-1));
    next.addEventListener("click", () => this.step(1));
  }

  show(time, glide) {
    this.t = Math.max(0, Math.min(this.end, time));
    this.render(this.t, glide);
    if (!this.controls) return;
    this.controls.scrub.value = String(this.t);
    this.controls.clock.textContent = `${formatTime(this.t)} / ${formatTime(this.end)}`;
  }

  /** Play from the start once the end is reached, else play or pause. */
  toggle() {
    if (this.t >= this.end) this.show(0, false);
    this.setPlaying(!this.playing);
  }

  setPlaying(on) {
    this.playing = on && this.t < this.end;
    if (!this.controls) return;
    const { play } = this.controls;
    play.textContent = this.playing ? "❚❚ pause" : "▶ play";
    play.setAttribute("aria-pressed", String(this.playing));
    this.last = performance.now();
    if (this.playing) requestAnimationFrame(this.frame);
  }

  frame(now) {
    if (!this.playing) return;
    const advance = (now - this.last) * Number(this.controls.speed.value);
    this.last = now;
    this.show(this.t + advance, true);
    if (this.t >= this.end) this.setPlaying(false);
    else requestAnimationFrame(this.frame);
  }

  step(direction) {
    this.setPlaying(false);
    const eps = 1e-6;
    const next = direction > 0
      ? this.changes.find((c) => c > this.t + eps)
      : [...this.changes].reverse().find((c) => c < this.t - eps);
    if (next !== undefined) this.show(next, direction > 0);
  }

  /** Space, the arrows and Home; true if the key was one of them. */
  handleKey(event) {
    if (event.key === "Home") {
      this.show(0, false);
      return true;
    }
    if (event.key === " ") this.toggle();
    else if (event.key === "ArrowRight") this.step(1);
    else if (event.key === "ArrowLeft") this.step(-1);
    else return false;
    event.preventDefault();
    return true;
  }
}
