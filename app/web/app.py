"""The FastAPI application: pages, partials, JSON API, WebSocket, static and vendored files."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import segno
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.assets import ASSETS, PAGE_ASSETS, VENDOR_DIR
from app.errors import CapExceeded, ConnscopeError, StoreError
from app.limits import Limits
from app.numbers import FILTERS
from app.sandbox.apps import UserApp
from app.sandbox.engines import gate_each, settings_line
from app.store import RunStore
from app.web import api, compare, errors, live, pages, sweeps
from app.web.registry import Registry
from app.web.reports import ReportQueue
from app.web.security import Access, SecurityMiddleware

ROOT = Path(__file__).resolve().parents[2]


def _access_context(request: Request) -> dict[str, Any]:
    """What every template needs to know of this request: may it control, and its nonce."""
    return {
        "control": request.state.control,
        "csp_nonce": request.state.csp_nonce,
        "audience_url": request.state.audience_url,
    }


def create_app(
    offline: bool = False,
    store: RunStore | None = None,
    limits: Limits | None = None,
    access: Access | None = None,
    apps: Mapping[str, UserApp] | None = None,
) -> FastAPI:
    """`access` defaults to `connscope serve`'s: loopback on port 8000, no token. `apps` are
    the user's apps the operator listed (`--app`): the only ones a target may serve."""
    limits = limits or Limits()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.registry = Registry(store=store or RunStore(), limits=limits, apps=dict(apps or {}))
        app.state.reports.measuring = app.state.registry.measuring
        try:
            yield
        finally:
            await app.state.registry.close()

    app = FastAPI(
        title="connscope",
        description="Start sandboxed uvicorn targets, fire bursts at them, and read what every connection did.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # Every route's body, forms included, is cut off at the cap with 413.
        max_body_size=limits.request_bytes,
        exception_handlers={
            RequestValidationError: errors.validation_failed,
            StarletteHTTPException: errors.http_error,
            CapExceeded: errors.over_cap,
            StoreError: errors.store_unavailable,
            ConnscopeError: errors.refused,
        },
    )

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        """Swagger UI from the local copies fetched at set-up: the docs work offline too.
        Started by static/js/docs.js, not an inline script, for the page's CSP."""
        response: HTMLResponse = app.state.templates.TemplateResponse(request, "docs.html", {})
        return response

    # HEAD too: `curl -I` and load balancers' checks ask with it (kept out of the schema,
    # where it would be a second operation with the same id).
    @app.head("/healthz", include_in_schema=False)
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """For health checks (the container's HEALTHCHECK): the server answers; nothing is touched."""
        return {"status": "ok"}

    access = access or Access.for_bind("127.0.0.1", 8000)
    cdn = () if offline else PAGE_ASSETS
    app.add_middleware(
        SecurityMiddleware,
        access=access,
        cdn_scripts=[a.cdn for a in cdn if a.kind == "js"],
        cdn_styles=[a.cdn for a in cdn if a.kind == "css"],
    )
    app.state.offline = offline
    app.state.reports = ReportQueue()
    app.state.audience_qr = (
        segno.make(access.audience_url, error="m").svg_inline(
            scale=1,
            border=2,
            dark="#000",
            light="#fff",
            omitsize=True,
            svgclass="audience__qr",
            title="QR code of the audience link",
        )
        if access.audience_url
        else None
    )
    app.state.templates = Jinja2Templates(directory=ROOT / "templates", context_processors=[_access_context])
    app.state.templates.env.globals["settings_line"] = settings_line
    # One rounding rule per quantity on every page, as the reports write it (app/numbers.py).
    app.state.templates.env.filters.update(FILTERS)
    app.state.templates.env.globals["gate_each"] = gate_each
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    VENDOR_DIR.mkdir(exist_ok=True)
    app.mount("/vendor", PageAssets(directory=VENDOR_DIR), name="vendor")
    # Before the pages: `/runs/compare` is not a run id.
    app.include_router(compare.router)
    app.include_router(pages.router)
    app.include_router(sweeps.router)
    app.include_router(api.router)
    app.include_router(live.router)
    return app


class PageAssets(StaticFiles):
    """The front-end files pages load, and nothing else of vendor/: it also holds the
    export's bundler, an 11 MB binary no page needs and anyone could download."""

    served = frozenset(f"{a.package}/{a.path}" for a in ASSETS if a.kind != "build")

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if path not in self.served:
            return "", None
        return super().lookup_path(path)
