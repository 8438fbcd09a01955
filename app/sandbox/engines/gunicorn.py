"""gunicorn as the process manager, uvicorn-worker's UvicornWorker in each worker: uvicorn's
protocols and 503 gate inside gunicorn's workers, gunicorn's own names for the rest."""

from __future__ import annotations

from app.sandbox.engines.base import Engine, Setting

GUNICORN = Engine(
    name="gunicorn",
    title="gunicorn",
    distributions=("gunicorn", "uvicorn-worker", "uvicorn"),
    settings=(
        Setting("backlog"),
        Setting("workers"),
        Setting("max_requests"),
        Setting("gunicorn_timeout", unset="30 s"),
        Setting("graceful_timeout", unset="30 s"),
        Setting("limit_concurrency"),
        Setting("timeout_keep_alive"),
        Setting("http"),
        Setting("loop"),
        Setting(
            "limit_max_requests", instead="has max_requests instead (the worker is restarted, the socket stays open)"
        ),
        Setting("keep_alive_timeout", instead="has timeout_keep_alive instead (uvicorn's, in each worker)"),
        Setting("backpressure", instead="has limit_concurrency instead (uvicorn's 503 gate, per worker)"),
    ),
    gate=("limit_concurrency", "limit"),
    witnesses="kernel, uvicorn's protocol in each worker (accepted/closed), app (active); "
    "no accept() hook: gunicorn owns the listening socket's objects",
)
