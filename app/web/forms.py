"""HTML form data to model input, by the fields `app.fields` describes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from app.fields import form_fields


def parse_form(model: type[BaseModel], form: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Form strings to model input: an empty optional field means None (no limit); a field
    the form did not send keeps its default."""
    values: dict[str, Any] = {}
    for field in form_fields(model, names):
        raw = form.get(field.name)
        if field.kind == "checkbox":
            values[field.name] = raw is not None
        elif raw is None:
            continue
        elif str(raw).strip() == "":
            # A number field the browser could not parse arrives empty too: for a required
            # field that is an error to show, not a silent default.
            values[field.name] = None if field.optional else ""
        else:
            values[field.name] = str(raw).strip()
    return values
