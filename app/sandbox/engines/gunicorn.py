"""gunicorn as the process manager, uvicorn-worker's UvicornWorker in each worker: uvicorn's
protocols and 503 gate inside gunicorn's workers, gunicorn's own names for the rest."""

from __future__ import annotations

from app.sandbox.engines.base import Engine

GUNICORN = Engine(
    name="gunicorn",
    title="gunicorn",
    distributions=("gunicorn", "uvicorn-worker", "uvicorn"),
    settings_fields=(
        "backlog",
        "workers",
        "max_requests",
        "gunicorn_timeout",
        "graceful_timeout",
        "limit_concurrency",
        "timeout_keep_alive",
        "http",
        "loop",
    ),
    witnesses="kernel, uvicorn's protocol in each worker (accepted/closed), app (active); "
    "no accept() hook: gunicorn owns the listening socket's objects",
    instead={
        "limit_max_requests": "has max_requests instead (the worker is restarted, the socket stays open)",
        "keep_alive_timeout": "has timeout_keep_alive instead (uvicorn's, in each worker)",
        "backpressure": "has limit_concurrency instead (uvicorn's 503 gate, per worker)",
    },
)
