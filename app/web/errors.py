"""Error answers that stay small and true: validation errors clipped, a lost store a 503,
the rest of connscope's errors a 409 that says why, and a browser following a stale link a
page in the site's layout that says what is missing and links back."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.assets import STYLESHEETS
from app.errors import CapExceeded
from app.vocabulary import VOCABULARY

ECHO_CHARS = 200
"""How much of a rejected input an error repeats: enough to spot the typo, never the megabytes."""


def clipped(value: Any) -> Any:
    """`value` as JSON can carry it (NaN and Infinity as text) and at most ECHO_CHARS long."""
    if isinstance(value, str) and len(value) > ECHO_CHARS:
        return value[:ECHO_CHARS] + f"… ({len(value)} characters)"
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        value = text = str(value)
    if len(text) <= ECHO_CHARS:
        return value
    return text[:ECHO_CHARS] + f"… ({len(text)} characters)"


def _is_non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def readable_error(item: dict[str, Any]) -> dict[str, Any]:
    error = {"type": item["type"], "loc": list(item["loc"]), "msg": item["msg"]}
    if _is_non_finite(item.get("input")):
        error |= {"type": "finite_number", "msg": "Input should be a finite number"}
    if "input" in item:
        error["input"] = clipped(item["input"])
    if item.get("ctx"):
        error["ctx"] = {key: clipped(value) for key, value in item["ctx"].items()}
    return error


def wants_page(request: Request) -> bool:
    """A browser navigating (its Accept names HTML) gets a page; the API, scripts and htmx's
    partial requests keep the JSON or text they parse."""
    if request.url.path.startswith("/api/") or "hx-request" in request.headers:
        return False
    return request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", "")


def wants_json(request: Request) -> bool:
    """A page's route asked for JSON rather than HTML (a script following the same link)."""
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def missing_page(request: Request, message: str, status_code: int = 404, heading: str = "Not found") -> HTMLResponse:
    """A readable page for what a browser's navigation could not get (a run deleted, an id
    mistyped, the store unreadable, a refusal), with the way back. `message` may carry the
    requester's own input: the template escapes it."""
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request,
        "missing.html",
        {
            "vocabulary": VOCABULARY,
            "stylesheets": STYLESHEETS,
            "heading": heading,
            "message": message,
            "status_code": status_code,
        },
        status_code=status_code,
    )
    return response


def not_found(request: Request, message: str) -> Response:
    """A page route's 404: the page, or `{"detail": message}` to a client that asked for JSON."""
    if wants_json(request):
        return JSONResponse({"detail": message}, status_code=404)
    return missing_page(request, message)


def _path_value_error(items: list[dict[str, Any]]) -> str | None:
    """What a bad id in the address means to its reader (`no run abc`), or None when
    something else of the request is wrong."""
    if not items or any(item["loc"][0] != "path" for item in items):
        return None
    item = items[0]
    noun = str(item["loc"][-1]).removesuffix("_id").replace("_", " ")
    return f"There is no {noun} {clipped(str(item.get('input', '')))}: a {noun}'s id is a whole number."


async def validation_failed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if wants_page(request):
        # `/runs/abc` followed in a browser: not an address of anything, said on a page.
        said = _path_value_error(list(exc.errors()))
        if said is not None:
            return missing_page(request, said)
        message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in map(readable_error, exc.errors()))
        return missing_page(request, clipped(message), 422, "This address is not valid")
    return JSONResponse({"detail": [readable_error(item) for item in exc.errors()]}, status_code=422)


async def http_error(request: Request, exc: Exception) -> Response:
    """An address that matches no route, followed in a browser, gets the page too."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404 and wants_page(request):
        return missing_page(request, f"Nothing is at {clipped(request.url.path)}.")
    return await http_exception_handler(request, exc)


async def over_cap(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CapExceeded)
    return JSONResponse({"detail": exc.detail()}, status_code=422)


async def store_unavailable(request: Request, exc: Exception) -> Response:
    """Recorded runs cannot be read; the live dashboard keeps working."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": str(exc)}, status_code=503)
    said = f"{exc}. Recorded runs cannot be shown until the store is back; the live dashboard still works."
    if wants_page(request):
        return missing_page(request, said, 503, "The run store is unavailable")
    return PlainTextResponse(said, status_code=503)


async def refused(request: Request, exc: Exception) -> Response:
    """A target that could not start, a namespace that could not be made: the request was
    understood but cannot be done now, and the message says why."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": str(exc)}, status_code=409)
    if wants_page(request):
        return missing_page(request, str(exc), 409, "This cannot be done now")
    return PlainTextResponse(str(exc), status_code=409)
