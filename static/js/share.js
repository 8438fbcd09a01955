/*
 * Presenter mode, fullscreen and the share link, with a notice for each change that is
 * both shown (a toast) and spoken (the toast is a polite live region).
 *
 * Presenter mode is `data-presenter="on"` on <html>: presenter.css enlarges the type, raises the
 * contrast and lets the live view fill the screen with the settings hidden. The server
 * renders it already on for `?present=1`, so a projector never sees the page jump.
 *
 * The share link carries every field of the target form as `t.<field>` and of the burst form
 * as `b.<field>` (all of them, not only those off their defaults, so a link keeps its meaning
 * when a default changes), plus `present=1` in presenter mode. Opening it fills the forms
 * and starts nothing (see `shared_form` in app/web/pages.py).
 */

const $ = (selector, root = document) => root.querySelector(selector);
const html = document.documentElement;
const TOAST_MS = 4000;

const initial = JSON.parse($("#connscope-initial").textContent);
const SHARE_FIELDS = initial.share_fields || { target: [], burst: [] };

/* ---------------- notices ---------------- */

const announcer = $("#announcer");
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

const presenterButton = $("#presenter-toggle");
const listeners = [];

export function isPresenting() {
  return html.dataset.presenter === "on";
}

/** Calls `callback(on)` after presenter mode was switched on or off. */
export function onPresenterChange(callback) {
  listeners.push(callback);
}

function setQueryParam(name, value) {
  const url = new URL(location.href);
  if (value == null) url.searchParams.delete(name);
  else url.searchParams.set(name, value);
  history.replaceState(history.state, "", url);
}

/**
 * Switches presenter mode. Focus left inside the controls that are now hidden moves to the
 * live view, where space fires and the arrow keys step through connections.
 */
export function setPresenter(on, { quiet = false } = {}) {
  on = Boolean(on);
  if (on === isPresenting()) return;
  html.dataset.presenter = on ? "on" : "off";
  presenterButton.setAttribute("aria-pressed", String(on));
  // A reload keeps the mode; a copied link carries it from shareUrl().
  setQueryParam("present", on ? "1" : null);
  const active = document.activeElement;
  if (on && active && active !== document.body && active.closest(".controls") && !active.checkVisibility?.()) {
    $("#lanes").focus({ preventScroll: true });
  }
  for (const callback of listeners) callback(on);
  if (!quiet) {
    announce(on ? "Presenter mode on: p leaves, ? lists the keys." : "Presenter mode off: the settings are back.");
  }
}

export function togglePresenter() {
  setPresenter(!isPresenting());
}

presenterButton.addEventListener("click", (event) => {
  togglePresenter();
  // After a mouse click the focus would stay on this button, and space would press it again
  // instead of firing a burst. A keyboard press (detail 0) keeps the focus where it is.
  if (event.detail > 0 && isPresenting()) $("#lanes").focus({ preventScroll: true });
});

/* ---------------- fullscreen ---------------- */

const fullscreenButton = $("#fullscreen-toggle");

export function toggleFullscreen() {
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

/* ---------------- share link ---------------- */

/** The link that restores the forms' current target and burst settings. */
export function shareUrl() {
  const params = new URLSearchParams();
  for (const [prefix, formSelector, names] of [
    ["t.", "#target-form", SHARE_FIELDS.target],
    ["b.", "#burst-form", SHARE_FIELDS.burst],
  ]) {
    const form = $(formSelector);
    if (!form) continue;
    for (const name of names) {
      const control = form.elements.namedItem(name);
      // A disabled field (another engine's, see engine-fields.js) is not sent, nor shared.
      if (!control || control.disabled) continue;
      if (control.type === "checkbox") {
        // The server reads a present checkbox field as checked, as a form post does.
        if (control.checked) params.set(prefix + name, "on");
      } else params.set(prefix + name, control.value.trim());
    }
  }
  if (isPresenting()) params.set("present", "1");
  return `${location.origin}${location.pathname}?${params}`;
}

const share = {
  button: $("#copy-link"),
  box: $("#share-box"),
  input: $("#share-url"),
  status: $("#share-status"),
  close: $("#share-close"),
};

function openShareBox(url) {
  share.input.value = url;
  share.button.dataset.url = url;
  share.box.hidden = false;
  share.button.setAttribute("aria-expanded", "true");
}

function closeShareBox({ focusButton = false } = {}) {
  if (share.box.hidden) return;
  share.box.hidden = true;
  share.button.setAttribute("aria-expanded", "false");
  if (focusButton) share.button.focus();
}

function selectLink() {
  share.input.focus();
  share.input.select();
  share.input.setSelectionRange(0, share.input.value.length);
}

async function copyLink() {
  const url = shareUrl();
  openShareBox(url);
  share.status.textContent = "Copying…";
  let copied = false;
  if (navigator.clipboard?.writeText && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(url);
      copied = true;
    } catch {
      copied = false; // no permission or no focus: the selected text below still works
    }
  }
  if (copied) {
    share.status.textContent = "Copied to the clipboard. Opening it fills the forms; it starts nothing.";
    announce("Link copied to the clipboard.", { visible: false });
    return;
  }
  // No Clipboard API (plain http on another host) or it said no: select the text instead.
  selectLink();
  let legacy = false;
  try {
    legacy = document.execCommand("copy");
  } catch {
    legacy = false;
  }
  share.status.textContent = legacy
    ? "Copied. The link is also selected here."
    : "The link is selected: press Ctrl+C (⌘C on a Mac) to copy it.";
  announce(legacy ? "Link copied." : "Link selected: press Control C to copy it.", { visible: false });
}

// The read-only audience view has no settings to share: no share box.
if (share.button) {
  share.button.addEventListener("click", copyLink);
  share.close.addEventListener("click", () => closeShareBox({ focusButton: true }));
  share.input.addEventListener("focus", () => share.input.select());
  share.box.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      closeShareBox({ focusButton: true });
    }
  });
  document.addEventListener("pointerdown", (event) => {
    if (!share.box.hidden && !event.target.closest(".share")) closeShareBox();
  });
}

/* ---------------- the note on a page opened from a share link ---------------- */

const note = $("#share-note");

function dismissNote() {
  if (!note || !note.isConnected) return;
  const hadFocus = note.contains(document.activeElement);
  note.remove();
  // The address no longer describes the forms: a reload must not bring the link back.
  const url = new URL(location.href);
  for (const key of [...url.searchParams.keys()]) {
    if (key.startsWith("t.") || key.startsWith("b.")) url.searchParams.delete(key);
  }
  history.replaceState(history.state, "", url);
  if (hadFocus) $(isPresenting() ? "#lanes" : "#target-form button[type=submit]")?.focus({ preventScroll: true });
}

if (note) {
  const errors = Number(note.dataset.errors || 0);
  announce(
    $("#share-note-title").textContent.trim() +
      (errors ? `. ${errors === 1 ? "One value is" : `${errors} values are`} not valid.` : "."),
  );
  $("#share-start")?.addEventListener("click", () => {
    const form = $("#target-form");
    if (!form) return;
    announce("Starting the target from the shared link…");
    form.requestSubmit();
  });
  $("#share-fix")?.addEventListener("click", () => {
    setPresenter(false, { quiet: true });
    const invalid = $("#target-form [aria-invalid=true], #burst-form [aria-invalid=true]");
    if (invalid) {
      invalid.focus();
      invalid.scrollIntoView({ block: "center" });
    }
  });
  $("#share-dismiss").addEventListener("click", dismissNote);
  // Once a target starts (the form, a restart or a scenario) the note has done its job.
  document.addEventListener("htmx:afterRequest", (event) => {
    const detail = event.detail;
    const path = detail.pathInfo?.requestPath || "";
    const started = path === "/targets" || path === "/targets/current/restart" || path.startsWith("/scenarios/");
    if (started && detail.xhr && detail.xhr.status >= 200 && detail.xhr.status < 300) dismissNote();
  });
}
