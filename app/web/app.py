"""The FastAPI application: pages, partials, JSON API, WebSocket, static and vendored files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from app.limits import CapExceeded, Limits
from app.store import RunStore, StoreError
from app.web import api, errors, live, pages
from app.web.assets import VENDOR_DIR
from app.web.registry import Registry

ROOT = Path(__file__).resolve().parents[2]


def create_app(offline: bool = False, store: RunStore | None = None, limits: Limits | None = None) -> FastAPI:
    limits = limits or Limits()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.registry = Registry(store=store or RunStore(), limits=limits)
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
            CapExceeded: errors.over_cap,
            StoreError: errors.store_unavailable,
        },
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        """Swagger UI from the local copies fetched at set-up: the docs work offline too."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="connscope API",
            swagger_js_url="/vendor/swagger-ui-dist/swagger-ui-bundle.js",
            swagger_css_url="/vendor/swagger-ui-dist/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """For health checks (the container's HEALTHCHECK): the server answers; nothing is touched."""
        return {"status": "ok"}

    app.state.offline = offline
    app.state.templates = Jinja2Templates(directory=ROOT / "templates")
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    VENDOR_DIR.mkdir(exist_ok=True)
    app.mount("/vendor", StaticFiles(directory=VENDOR_DIR), name="vendor")
    app.include_router(pages.router)
    app.include_router(api.router)
    app.include_router(live.router)
    return app
