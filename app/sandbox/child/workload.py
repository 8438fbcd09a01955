"""The app the target serves: a Starlette app whose one endpoint behaves as the workload says.

Every response it produces carries `x-connscope-app: 1`, so the client can tell a 503 of
the app from uvicorn's own admission-control 503 without any guesswork.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import multiprocessing
import os
import random
import time
from statistics import NormalDist

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.sandbox.child.channel import before_blocking
from app.sandbox.child.containment import arm_worker
from app.sandbox.child.witness import AppWitness
from app.sandbox.settings import TargetSettings
from app.witness_protocol import APP_HEADER

APP_FACTORY = "app.sandbox.child.workload:create_app"
WORKER_ENV = "CONNSCOPE_WORKER"
Z_99 = NormalDist().inv_cdf(0.99)


def lognormal_params(p50_ms: float, p99_ms: float) -> tuple[float, float]:
    """mu and sigma (of the hold time in seconds) whose median is p50 and 99th percentile p99."""
    mu = math.log(p50_ms / 1000)
    return mu, (math.log(p99_ms) - math.log(p50_ms)) / Z_99


def _hold_seconds(settings: TargetSettings, rng: random.Random) -> float:
    mean = settings.handler_ms / 1000
    if settings.latency == "lognormal" and settings.handler_p99_ms is not None and mean > 0:
        return rng.lognormvariate(*lognormal_params(settings.handler_ms, settings.handler_p99_ms))
    if settings.latency == "uniform":
        return rng.uniform(0, 2 * mean)
    if settings.latency == "exponential":
        return rng.expovariate(1 / mean) if mean > 0 else 0.0
    return mean


def _burn_cpu(seconds: float) -> None:
    deadline = time.thread_time() + seconds
    while time.thread_time() < deadline:
        pass


def worker_number() -> int:
    """This worker's number among the target's processes, from 1 in the order they were
    started (a worker restarted later gets the next): gunicorn's worker age, which
    app.sandbox.child.engines.gunicorn puts in WORKER_ENV, or the multiprocessing number
    uvicorn's, Hypercorn's and Granian's spawned workers have. 1 in a single process."""
    given = os.environ.get(WORKER_ENV, "")
    if given.isdigit():
        return int(given)
    # `_identity` is the child's number in its parent's multiprocessing counter: () in a
    # process not started by multiprocessing.
    identity: tuple[int, ...] = getattr(multiprocessing.current_process(), "_identity", ())
    return identity[-1] if identity else 1


def worker_rng(seed: int | None, worker: int) -> random.Random:
    """A seeded workload draws one reproducible sequence per worker: the first worker the
    seed's own (a single-worker run's), the others their number's, so two workers do not
    hold their requests in lockstep."""
    if seed is None:
        return random.Random()
    return random.Random(seed if worker == 1 else f"{seed}:worker{worker}")


def _build(settings: TargetSettings) -> Starlette:
    rng = worker_rng(settings.handler_seed, worker_number())
    body = b"x" * settings.response_bytes if settings.response_bytes <= 1 << 20 else b""
    headers = {APP_HEADER: "1"}

    def payload() -> bytes:
        # Large bodies are made per request so that the memory cap is hit where it would be.
        return body if settings.response_bytes <= 1 << 20 else b"x" * settings.response_bytes

    async def async_endpoint(request: Request) -> Response:
        await asyncio.sleep(_hold_seconds(settings, rng))
        return Response(payload(), headers=headers)

    # The two that hold the loop say so first: a blocked loop sends no reports, and this
    # process runs no watchdog to send them for it.
    async def blocking_endpoint(request: Request) -> Response:
        seconds = _hold_seconds(settings, rng)
        before_blocking(seconds)
        time.sleep(seconds)
        return Response(payload(), headers=headers)

    async def cpu_endpoint(request: Request) -> Response:
        seconds = _hold_seconds(settings, rng)
        before_blocking(seconds)
        _burn_cpu(seconds)
        return Response(payload(), headers=headers)

    def sync_endpoint(request: Request) -> Response:
        time.sleep(_hold_seconds(settings, rng))
        return Response(payload(), headers=headers)

    endpoints = {"async": async_endpoint, "blocking": blocking_endpoint, "cpu": cpu_endpoint}
    weights = settings.handler_weights
    kinds, cumulative = [k for k, _ in weights], list(itertools.accumulate(w for _, w in weights))

    async def mixed_endpoint(request: Request) -> Response:
        kind = rng.choices(kinds, cum_weights=cumulative)[0]
        # As Starlette runs a def endpoint: in its thread pool.
        if kind == "sync":
            return await run_in_threadpool(sync_endpoint, request)
        return await endpoints[kind](request)

    endpoint = mixed_endpoint if len(kinds) > 1 else sync_endpoint if kinds[0] == "sync" else endpoints[kinds[0]]
    return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST", "HEAD"])])


def create_app() -> object:
    """The app factory (APP_FACTORY), called in every worker of every engine."""
    arm_worker()
    settings = TargetSettings.from_env()
    app = _build(settings)
    return AppWitness(app) if settings.instrument else app
