/*
 * How many requests a target's app runs at once, per worker, under its own engine's gate
 * (the vocabulary's engine words name the setting): uvicorn's (and gunicorn's uvicorn
 * worker's) limit_concurrency, Granian's backpressure (empty: backlog / workers, as Granian
 * takes it), none for an engine without a gate (Hypercorn). null: no limit; undefined: no target.
 */
import { engineWords } from "./vocabulary.js";

export function slotCapacity(settings) {
  if (!settings) return undefined;
  const gate = engineWords(settings).gate_setting;
  if (!gate) return null;
  if (settings[gate] != null) return settings[gate];
  if (gate !== "backpressure") return null;
  return Math.max(1, Math.floor(settings.backlog / Math.max(1, settings.workers ?? 1)));
}
