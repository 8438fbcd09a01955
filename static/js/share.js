/*
 * The live page's share link, with the note on a page opened from one (presenter mode,
 * fullscreen and notices are screen.js's).
 *
 * The share link carries every field of the target form as `t.<field>` and of the burst form
 * as `b.<field>` (all of them, not only those off their defaults, so a link keeps its meaning
 * when a default changes), plus `present=1` in presenter mode. Opening it fills the forms
 * and starts nothing (see `shared_form` in app/web/pages.py).
 */
import { announce, isPresenting, setPresenter } from "./screen.js";

const $ = (selector, root = document) => root.querySelector(selector);

const initial = JSON.parse($("#connscope-initial").textContent);
const SHARE_FIELDS = initial.share_fields || { target: [], burst: [] };

/* ---------------- share link ---------------- */

/** The link that restores the forms' current target and burst settings. */
function shareUrl() {
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
  if (hadFocus) $(isPresenting() ? "[data-presenter-focus]" : "#target-form button[type=submit]")?.focus({ preventScroll: true });
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
