/*
 * A target form shows the chosen server's own settings only: another engine's field is
 * hidden and disabled, so the form does not send it and the server takes its default (a
 * gunicorn target's limit_concurrency never blocks starting Granian). Which engines read a
 * field comes from the page, each field's data-engines rendered from the engine tables.
 * Without this script every field shows, and another engine's value is refused inline.
 */
/* The live page's target form, and each side of the compare form (its server is "a.server"). */
const SCOPES = "#target-form, #compare-form fieldset[data-side]";

function isServer(control) {
  return control.name === "server" || control.name?.endsWith(".server");
}

function showServerFields(scope) {
  const server = [...scope.querySelectorAll("select")].find(isServer)?.value;
  if (!server) return;
  for (const field of scope.querySelectorAll("[data-engines]")) {
    // A field with an error stays: the refusal is shown where it can be read and fixed.
    const own = field.dataset.engines.split(" ").includes(server) || field.classList.contains("field--invalid");
    field.hidden = !own;
    for (const control of field.querySelectorAll("input, select, textarea")) control.disabled = !own;
  }
}

function showInPage() {
  for (const scope of document.querySelectorAll(SCOPES)) showServerFields(scope);
}

document.addEventListener("change", (event) => {
  const scope = isServer(event.target) ? event.target.closest(SCOPES) : null;
  if (scope) showServerFields(scope);
});
// htmx swaps the whole panel after a start, a stop or a reload of the panels.
document.addEventListener("htmx:load", showInPage);
showInPage();
