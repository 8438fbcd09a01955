/*
 * A comparison's self-contained HTML export (app/export.py bundles it with esbuild): both
 * runs replayed in lockstep, with no server and no network.
 */
import { startLockstep } from "./compare-replay.js";

const runs = JSON.parse(document.getElementById("connscope-runs").textContent);
startLockstep(runs.a, runs.b, document);
