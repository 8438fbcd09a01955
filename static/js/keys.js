/*
 * The keyboard: one handler for the live page's keys (see the help dialog, `?`), outside form
 * fields only. p and f are screen.js's, as on /compare.
 */
import { $, ui } from "./live-page.js";
import { announce, isPresenting, setPresenter, typingInto } from "./screen.js";
import { restartTarget } from "./restart.js";
import { hideTip, stepConnection, tip } from "./tooltip.js";

function focusFirstField(panelSelector) {
  // The settings are hidden in presenter mode: going to them brings them back.
  if (isPresenting()) setPresenter(false);
  const field = $(`${panelSelector} .field input, ${panelSelector} .field select`) || $(`${panelSelector} button`);
  if (field) {
    field.focus();
    field.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }
}

function toggleHelp() {
  if (ui.help.open) ui.help.close();
  else {
    ui.help.showModal();
    // Close (at the bottom, autofocused for Enter) scrolled a short screen's dialog past its heading.
    ui.help.scrollTop = 0;
  }
}

/** Listens for the keys; `slow` is the page's slow motion (`s`). */
export function listenForKeys(slow) {
  $("#help-button").addEventListener("click", toggleHelp);
  ui.help.addEventListener("click", (event) => {
    if (event.target === ui.help) ui.help.close(); // a click on the backdrop
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    const active = document.activeElement;
    if (event.key === "Escape") {
      if (tip.cid != null) hideTip();
      return;
    }
    if (typingInto(active)) return;
    if (event.key === "?") {
      event.preventDefault();
      toggleHelp();
      return;
    }
    if (ui.help.open) return;
    // Caps lock must not turn the letter keys off.
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    switch (key) {
      case "r":
        event.preventDefault();
        restartTarget();
        break;
      case "s":
        event.preventDefault();
        slow.setSlow(!slow.on);
        break;
      case "ArrowLeft":
      case "ArrowRight":
        // The canvas steps on its own; in presenter mode the arrows step from anywhere.
        if (!isPresenting() || (active && active.matches("[role=slider], [role=tab], [role=radio]"))) return;
        event.preventDefault();
        ui.canvas.focus({ preventScroll: true });
        stepConnection(key === "ArrowRight" ? 1 : -1);
        break;
      case "t":
        event.preventDefault();
        focusFirstField("#target-panel");
        break;
      case "b":
        event.preventDefault();
        focusFirstField("#burst-panel");
        break;
      case "l":
        event.preventDefault();
        ui.canvas.focus();
        ui.canvas.scrollIntoView({ block: "nearest", behavior: "smooth" });
        break;
      case " ": {
        // Space keeps its own meaning on buttons, links and summaries.
        if (active && active !== document.body && active !== ui.canvas && active.matches("button, a, summary, [role=button]")) return;
        const fire = $("#fire");
        if (fire && window.htmx) {
          event.preventDefault();
          // The burst panel, and the error it would show, is hidden in presenter mode.
          if (isPresenting() && fire.getAttribute("aria-disabled") === "true") {
            announce("No target is ready: nothing to fire at. Press r to restart it or a number key (1–9, 0) for a scenario.");
          }
          fire.click();
        }
        break;
      }
      default:
        // 1–9 and 0 (the tenth) run the guided scenario with that key, when the scenario panel is there.
        if (/^[0-9]$/.test(event.key)) {
          const scenario = document.querySelector(`#scenario-panel [data-key="${event.key}"]`);
          if (scenario && window.htmx) {
            event.preventDefault();
            scenario.click();
          }
        }
    }
  });
}
