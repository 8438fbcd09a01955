"""Reports to paste into a rollout ticket: Markdown with a plot beside it and the JSON
behind it (app/report/sweep.py for a sweep)."""
