/*
 * How many requests a target's app runs at once, per worker, under its own engine's setting:
 * uvicorn's (and gunicorn's uvicorn worker's) limit_concurrency, Granian's backpressure
 * (empty: backlog / workers, as Granian takes it), Hypercorn none. null: no limit;
 * undefined: no target.
 */
export function slotCapacity(settings) {
  if (!settings) return undefined;
  if (settings.server === "granian") {
    return settings.backpressure ?? Math.max(1, Math.floor(settings.backlog / Math.max(1, settings.workers ?? 1)));
  }
  if (settings.server === "hypercorn") return null;
  return settings.limit_concurrency ?? null;
}

/** The setting's own name, for the places it is said. */
export function slotSetting(settings) {
  return settings?.server === "granian" ? "backpressure" : "limit_concurrency";
}
