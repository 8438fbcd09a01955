/*
 * The self-contained HTML export's script (app/export.py bundles it with esbuild): the
 * replay of the run the file carries, with no server and no network.
 */
import { startReplay } from "./replay.js";

startReplay(JSON.parse(document.getElementById("connscope-run").textContent), document);
