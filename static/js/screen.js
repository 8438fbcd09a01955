/*
 * The screen, on every page that shows live views to a room (the live page and /compare):
 * presenter mode, fullscreen, their keys (p, f), and notices that are both shown (a toast)
 * and spoken (the toast is a polite live region).
 *
 * Presenter mode is `data-presenter="on"` on <html>: presenter.css enlarges the type, raises the
 * contrast and lets the live views fill the screen with the settings hidden. The server
 * renders it already on for `?present=1`, so a projector never sees the page jump. Where the
 * focus goes when the controls it was in are hidden is the page's `[data-presenter-focus]`.
 */

const html = document.documentElement;
const TOAST_MS = 4000;

/* ---------------- notices ---------------- */

const announcer = document.getElementById("announcer");
let toastTimer = 0;

/**
 * Has screen readers say `text` (also when the same text repeats) and shows it briefly,
 * unless `visible` is false because the page already shows it where the user looks.
 */
export function announce(text, { visible = true } = {}) {
  clearTimeout(toastTimer);
  announcer.textContent = "";
  announcer.classList.remove("toast--shown");
  // A fresh text node in a later frame is announced again even when the words are the same.
  requestAnimationFrame(() => {
    announcer.textContent = text;
    if (!visible) return;
    announcer.classList.add("toast--shown");
    toastTimer = setTimeout(() => announcer.classList.remove("toast--shown"), TOAST_MS);
  });
}

/* ---------------- presenter mode ---------------- */

const presenterButton = document.getElementById("presenter-toggle");
const listeners = [];

export function isPresenting() {
  return html.dataset.presenter === "on";
}

/** Calls `callback(on)` after presenter mode was switched on or off. */
export function onPresenterChange(callback) {
  listeners.push(callback);
}

function setQueryParam(name, value) {
  // A file:// export (a comparison's) has no address to keep it in.
  if (location.protocol === "file:") return;
  const url = new URL(location.href);
  if (value == null) url.searchParams.delete(name);
  else url.searchParams.set(name, value);
  history.replaceState(history.state, "", url);
}

function focusLiveView() {
  document.querySelector("[data-presenter-focus]")?.focus({ preventScroll: true });
}

/**
 * Switches presenter mode. Focus left inside the controls that are now hidden moves to the
 * live view, where the page's keys work.
 */
export function setPresenter(on, { quiet = false } = {}) {
  on = Boolean(on);
  if (on === isPresenting()) return;
  html.dataset.presenter = on ? "on" : "off";
  presenterButton.setAttribute("aria-pressed", String(on));
  // A reload keeps the mode; a copied link carries it.
  setQueryParam("present", on ? "1" : null);
  const active = document.activeElement;
  // A browser without checkVisibility (Safari before 17.4): hidden is having no box.
  const hidden = (el) => (el.checkVisibility ? !el.checkVisibility() : el.getClientRects().length === 0);
  if (on && active && active !== document.body && hidden(active)) focusLiveView();
  for (const callback of listeners) callback(on);
  if (!quiet) {
    const keys = document.getElementById("help-button") ? ", ? lists the keys" : "";
    announce(on ? `Presenter mode on: p leaves${keys}.` : "Presenter mode off: the settings are back.");
  }
}

function togglePresenter() {
  setPresenter(!isPresenting());
}

presenterButton.addEventListener("click", (event) => {
  togglePresenter();
  // After a mouse click the focus would stay on this button, and space would press it again
  // instead of the page's own key. A keyboard press (detail 0) keeps the focus where it is.
  if (event.detail > 0 && isPresenting()) focusLiveView();
});

/* ---------------- fullscreen ---------------- */

const fullscreenButton = document.getElementById("fullscreen-toggle");

function toggleFullscreen() {
  if (document.fullscreenElement) {
    document.exitFullscreen().catch(() => {});
    return;
  }
  if (!html.requestFullscreen || document.fullscreenEnabled === false) {
    announce("Fullscreen is not available here: use the browser's own (F11).");
    return;
  }
  window.connscopeFullscreenRequests = (window.connscopeFullscreenRequests || 0) + 1;
  html.requestFullscreen({ navigationUI: "hide" }).catch((error) => {
    announce(`The browser refused fullscreen (${error.message}).`);
  });
}

fullscreenButton.addEventListener("click", toggleFullscreen);
document.addEventListener("fullscreenchange", () => {
  const on = document.fullscreenElement != null;
  html.dataset.fullscreen = on ? "on" : "off";
  fullscreenButton.setAttribute("aria-pressed", String(on));
  announce(on ? "Fullscreen on: f or Esc leaves." : "Fullscreen off.");
});

/* ---------------- keys ---------------- */

export function typingInto(el) {
  // A replay's scrubber (a slider) takes no letters: p and f still work while it has the focus.
  if (el?.tagName === "INPUT" && el.type === "range") return false;
  return !!el && (el.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName));
}

// p and f work alike on every page with a live view; outside form fields and open dialogs.
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  if (typingInto(document.activeElement) || document.querySelector("dialog[open]")) return;
  const key = event.key.toLowerCase();
  if (key === "p") {
    event.preventDefault();
    togglePresenter();
  } else if (key === "f") {
    event.preventDefault();
    toggleFullscreen();
  }
});
