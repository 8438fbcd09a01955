/*
 * The target's state wherever the page shows it (badges, port, crash report, Fire and its
 * hint, the empty state over the lanes, the replay link), the panels an audience follows,
 * and the inline errors htmx swaps in.
 */
import { $, CONTROL, live, ui, view } from "./live-page.js";
import { announce, isPresenting, setPresenter } from "./screen.js";
import { engineWords } from "./vocabulary.js";

export function updateTarget(target) {
  const replaced = live.target && target && live.target.id !== target.id;
  live.target = target;
  // Another client's new target cut this one's bursts short: the burst list says so.
  if (replaced && $("#burst-progress")) {
    window.htmx?.ajax("GET", "/partials/bursts", { target: "#burst-progress", swap: "outerHTML" });
  }
  const state = target ? target.state : "none";
  const label = target ? target.state : "no target";
  for (const badge of [ui.badge, ...document.querySelectorAll("#target-panel [data-target-state]")]) {
    // The panel's badge is the back end's; keeping its text in step is all we touch.
    badge.textContent = label;
    badge.className = badge.className.replace(/badge--[\w-]+/, "badge--" + state);
    if (badge.dataset.targetState !== undefined) badge.dataset.targetState = state;
    else badge.dataset.state = state;
  }
  ui.targetStatus.dataset.state = state;
  ui.targetStatus.dataset.targetId = target ? String(target.id) : "";
  ui.port.textContent = target && target.port ? `127.0.0.1:${target.port}` : "";
  const crashed = state === "crashed";
  ui.crash.hidden = !crashed;
  if (crashed) {
    ui.crashExit.textContent = target.exit || "";
    ui.crashTail.textContent = (target.output_tail || []).join("\n") || target.error || "(no output)";
  }
  syncFireButton();
  updateEmptyState();
  updateReplayLink(target);
  document.dispatchEvent(new CustomEvent("connscope:target", { detail: target }));
}

/** Presenter mode links to the replay of the last recorded run (in presenter mode too). */
export function updateReplayLink(target) {
  const link = ui.replayLast;
  if (!link) return;
  const runId = [...(target?.bursts || [])].reverse().find((b) => b.run_id != null)?.run_id;
  if (link.dataset.runId === String(runId ?? "")) return;
  link.dataset.runId = String(runId ?? "");
  link.hidden = runId == null;
  if (runId == null) return;
  link.href = `/runs/${runId}?present=1`;
  link.textContent = `▶ Replay run ${runId}`;
  link.title = `Replay run ${runId} step by step, from 0.05× (opens in presenter mode)`;
}

function syncFireButton() {
  const fire = $("#fire");
  if (!fire) return;
  const target = live.target;
  const ready = !!target && target.state === "ready";
  if (ready) fire.removeAttribute("aria-disabled");
  else fire.setAttribute("aria-disabled", "true");
  // Why Fire does nothing yet, next to it (the server renders the same words).
  const hint = $("#fire-hint");
  if (!hint) return;
  const text = ready
    ? `fires at 127.0.0.1:${target.port} with the settings below`
    : !target
      ? "Start a target first: there is nothing to fire at yet."
      : target.state === "starting"
        ? "The target is starting: Fire works once it is ready."
        : `The target has ${target.state}: press Restart or Start target first.`;
  if (hint.textContent !== text) hint.textContent = text;
  hint.dataset.ready = String(ready);
}

document.addEventListener("htmx:afterSwap", syncFireButton);

/* An answer htmx does not swap in (403 without the token, 400, 5xx): said, as text only. */
document.addEventListener("htmx:responseError", (event) => {
  const xhr = event.detail.xhr;
  const plain = (xhr.getResponseHeader("content-type") || "").startsWith("text/plain");
  const line = plain ? xhr.responseText.trim().split("\n")[0].slice(0, 200) : "";
  announce(line ? `HTTP ${xhr.status}: ${line}` : `The dashboard answered HTTP ${xhr.status}.`);
});

/*
 * The audience view's panels follow what the presenter does: a new target, its state, a
 * burst done. The presenter's own panels follow a target they did not start from this
 * page's form (a two-target scenario's second, another tab): only then, so a form being
 * typed in is never redrawn under the typing.
 */
let audienceSeen = "";
let targetSeen;
let ownStart = false;
const STARTS = (path) => path === "/targets" || path === "/targets/current/restart" || path.startsWith("/scenarios/");
document.addEventListener("htmx:afterRequest", (event) => {
  const status = event.detail.xhr?.status || 0;
  if (STARTS(event.detail.pathInfo?.requestPath || "") && status >= 200 && status < 300) ownStart = true;
});

export function followPresenter(target) {
  if (!window.htmx) return;
  if (CONTROL) {
    const id = target?.id ?? null;
    if (id === null || id === targetSeen) return;
    // While this page's own request runs, a reload would replace the form it was sent
    // from and its answer would land nowhere: a later frame looks again. A target this
    // page started is already drawn by that request's answer.
    if (document.querySelector(".htmx-request")) return;
    if (targetSeen !== undefined && !ownStart) window.htmx.trigger(document.body, "connscope:reload-panels");
    ownStart = false;
    targetSeen = id;
    return;
  }
  const bursts = target?.bursts || [];
  const key = target ? `${target.id}|${target.state}|${bursts.length}|${bursts.filter((b) => b.done).length}` : "";
  if (key === audienceSeen) return;
  audienceSeen = key;
  window.htmx.trigger(document.body, "connscope:reload-panels");
}

/*
 * A form the server turned down (422: invalid values, 409: nothing to fire at) comes back
 * with its errors inline: bring the first one into view and put the focus on its field.
 */
const FORM_PANELS = { "/targets": "#target-panel", "/bursts": "#burst-panel" };
document.addEventListener("htmx:afterSettle", (event) => {
  const detail = event.detail;
  const status = detail.xhr?.status;
  if (status !== 422 && status !== 409) return;
  const panel = $(FORM_PANELS[detail.pathInfo?.requestPath] || "");
  if (!panel) return;
  const field = panel.querySelector("[aria-invalid=true]");
  const message = field || panel.querySelector(".error[role=alert]");
  if (!message) return;
  if (isPresenting()) setPresenter(false, { quiet: true });
  const focusable = field || $("#fire", panel) || message;
  focusable.focus({ preventScroll: true });
  (field?.closest(".field") || message).scrollIntoView({ block: "center", behavior: "auto" });
});

/** The target's own server, booting: the engine's name from the vocabulary's engine words. */
function booting(target) {
  return `${engineWords(target.settings).title} is booting in its sandbox.`;
}

function audienceEmptyState(target) {
  if (!target) return ["no-target", "No target yet", "The presenter starts one; every connection will show here, live."];
  if (target.state === "starting") return ["starting", "Starting the target…", booting(target)];
  if (target.state === "ready") return ["ready", "Target ready", "Waiting for the presenter to fire a burst."];
  if (target.state === "crashed") return ["crashed", "The target crashed", "Its exit status and output are above."];
  return [target.state, `The target has ${target.state}`, "Waiting for the presenter."];
}

/** A comparison or a sweep has the dashboard instead of a live target: where to watch it. */
function elsewhereState(elsewhere) {
  if (!elsewhere.running) {
    return ["elsewhere", "The presenter's comparison has ended", "Its page has both sides' results and what differed."];
  }
  const what = elsewhere.what === "sweep" ? "a sweep" : "a comparison";
  const how =
    elsewhere.what === "sweep"
      ? "Each cell runs on a target of its own; its page fills in as they end."
      : "Both targets run the same burst; its page shows them side by side.";
  return ["elsewhere", `${CONTROL ? "The dashboard" : "The presenter"} is running ${what}`, how];
}

export function updateEmptyState() {
  const target = live.target;
  // In presenter mode the settings are hidden: point at the keys instead of "on the left".
  const presenting = isPresenting();
  const where = presenting ? "Press p for the settings, or a number key (1–9, 0) for a guided scenario" : "Start a target on the left";
  let reason = "";
  let title = "";
  let hint = "";
  // An ended comparison points an audience at its results; the presenter starts what is next.
  const elsewhere = !target && live.elsewhere && (live.elsewhere.running || !CONTROL) ? live.elsewhere : null;
  if (view.connections > 0) reason = "";
  else if (elsewhere) [reason, title, hint] = elsewhereState(elsewhere);
  else if (!CONTROL) [reason, title, hint] = audienceEmptyState(target);
  else if (!target) {
    reason = "no-target";
    title = presenting ? "No target yet" : "Start a target on the left, then fire a burst";
    hint = presenting
      ? `${where}.`
      : "Each connection becomes a dot that moves through the kernel's backlog and the server's slots, and lands in its outcome.";
  } else if (target.state === "starting") {
    reason = "starting";
    title = "Starting the target…";
    hint = booting(target);
  } else if (target.state === "ready") {
    reason = "ready";
    title = "Target ready: fire a burst";
    hint = presenting
      ? `${target.settings.server} listens on 127.0.0.1:${target.port}. Press space to fire, r to reset.`
      : `${target.settings.server} listens on 127.0.0.1:${target.port}. Set the burst on the left and press Fire (or space).`;
  } else if (target.state === "crashed") {
    reason = "crashed";
    title = "The target crashed";
    hint = presenting
      ? "Its exit status and output are above. Press r to start it again, or p for the settings."
      : "Its exit status and output are above. Change the settings on the left and start it again.";
  } else {
    reason = target.state;
    title = `The target has ${target.state}`;
    hint = presenting ? "Press r to start it again with the same settings." : "Start a target on the left, then fire a burst.";
  }
  ui.empty.hidden = reason === "";
  const shownKey = `${reason}|${presenting}|${target?.port ?? ""}|${elsewhere?.href ?? ""}|${elsewhere?.running ?? ""}`;
  if (ui.empty.dataset.shown !== shownKey) {
    ui.empty.dataset.shown = shownKey;
    ui.empty.dataset.reason = reason;
    ui.emptyTitle.textContent = title;
    ui.emptyHint.textContent = hint;
    ui.emptyLink.hidden = !elsewhere;
    if (elsewhere) {
      ui.emptyLink.href = elsewhere.href;
      ui.emptyLink.textContent = elsewhere.running ? `Watch the ${elsewhere.what} →` : "See its results →";
    }
  }
}
