"""Error answers that stay small and true: validation errors clipped, a lost store a 503,
the rest of connscope's errors a 409 that says why."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from app.errors import CapExceeded

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


async def validation_failed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": [readable_error(item) for item in exc.errors()]}, status_code=422)


async def over_cap(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CapExceeded)
    return JSONResponse({"detail": exc.detail()}, status_code=422)


async def store_unavailable(request: Request, exc: Exception) -> Response:
    """Recorded runs cannot be read; the live dashboard keeps working."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": str(exc)}, status_code=503)
    return PlainTextResponse(f"{exc}\nRecorded runs cannot be shown until the store is back.", status_code=503)


async def refused(request: Request, exc: Exception) -> Response:
    """A target that could not start, a namespace that could not be made: the request was
    understood but cannot be done now, and the message says why."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": str(exc)}, status_code=409)
    return PlainTextResponse(str(exc), status_code=409)
