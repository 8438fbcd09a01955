/*
 * The target form shows the chosen server's own settings only: another engine's field is
 * hidden and disabled, so the form does not send it and the server takes its default (a
 * gunicorn target's limit_concurrency never blocks starting Granian). Which engines read a
 * field comes from the page, each field's data-engines rendered from the engine tables.
 * Without this script every field shows, and another engine's value is refused inline.
 */
const FORM = "#target-form";

function showServerFields(form) {
  const server = form.elements.namedItem("server")?.value;
  if (!server) return;
  for (const field of form.querySelectorAll("[data-engines]")) {
    // A field with an error stays: the refusal is shown where it can be read and fixed.
    const own = field.dataset.engines.split(" ").includes(server) || field.classList.contains("field--invalid");
    field.hidden = !own;
    for (const control of field.querySelectorAll("input, select, textarea")) control.disabled = !own;
  }
}

function showInPage() {
  const form = document.querySelector(FORM);
  if (form) showServerFields(form);
}

document.addEventListener("change", (event) => {
  const form = event.target.form;
  if (event.target.name === "server" && form?.matches(FORM)) showServerFields(form);
});
// htmx swaps the whole panel after a start, a stop or a reload of the panels.
document.addEventListener("htmx:load", showInPage);
showInPage();
