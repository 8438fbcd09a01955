/*
 * Deleting a recorded run, from the runs list or its replay: a confirmation, then
 * DELETE /api/runs/{id}. The list drops the row; the replay goes back to the list.
 */
const dialog = document.getElementById("delete-run-dialog");
const error = document.getElementById("delete-run-error");
let pending = null;

async function remove(runId) {
  const url = `/api/runs/${encodeURIComponent(runId)}`;
  const response = await fetch(url, { method: "DELETE", headers: window.connscopeToken?.headers(url) });
  if (response.ok || response.status === 404) return null; // gone either way
  const body = await response.json().catch(() => ({}));
  return typeof body.detail === "string" ? body.detail : `HTTP ${response.status}`;
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-delete-run]");
  if (!button) return;
  pending = button;
  dialog.querySelector("[data-run-id]").textContent = button.dataset.deleteRun;
  error.hidden = true;
  dialog.returnValue = ""; // Esc keeps the last value: only the Delete button may delete
  dialog.showModal();
});

dialog.addEventListener("close", async () => {
  const button = pending;
  if (dialog.returnValue !== "delete" || !button) {
    button?.focus();
    return;
  }
  const runId = button.dataset.deleteRun;
  const problem = await remove(runId).catch((e) => e.message);
  if (problem) {
    error.textContent = `Run ${runId} was not deleted: ${problem}`;
    error.hidden = false;
    dialog.showModal();
    return;
  }
  pending = null;
  const row = button.closest("tr[data-run]");
  if (!row) {
    location.assign("/runs");
    return;
  }
  // Keep the focus in the table: on the next row's delete button, or the list's heading.
  const next = row.nextElementSibling || row.previousElementSibling;
  row.remove();
  (next?.querySelector("[data-delete-run]") || document.getElementById("runs-heading"))?.focus();
});
