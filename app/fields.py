"""The pydantic models at the edge described field by field, for the web form and the CLI's
flags alike, and their validation errors said the way a person reads them."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    label: str
    hint: str
    kind: Literal["select", "number", "text", "checkbox"]
    default: Any
    optional: bool
    choices: tuple[str, ...] = ()
    step: str = "any"
    minimum: float | None = None
    empty: str = "no limit"
    """What an empty optional field means."""
    labels: tuple[str, ...] = ()
    """What a select shows for each of `choices`, where the value posted reads badly."""
    engines: tuple[str, ...] = ()
    """The servers that read it, where not every one does (the form shows it for those only)."""

    def options(self) -> list[tuple[str, str]]:
        """A select's (value posted, text shown) pairs."""
        return list(zip(map(str, self.choices), self.labels or map(str, self.choices), strict=True))


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(annotation))
    return annotation, False


def form_fields(model: type[BaseModel], names: tuple[str, ...]) -> list[FormField]:
    fields = []
    for name in names:
        info = model.model_fields[name]
        annotation, optional = _unwrap_optional(info.annotation)
        # `gt` bounds are exclusive: only an inclusive `ge` is a minimum the form can state.
        minimum = next((m.ge for m in info.metadata if getattr(m, "ge", None) is not None), None)
        choices: tuple[str, ...] = ()
        labels: tuple[str, ...] = ()
        if typing.get_origin(annotation) is Literal:
            kind: Literal["select", "number", "text", "checkbox"] = "select"
            choices = tuple(typing.get_args(annotation))
        elif annotation is bool and optional:
            # Three values, not a checkbox: not given (None) is a setting of its own. The
            # values posted stay 0 and 1, as share links and the CLI write them.
            kind, choices, labels = "select", ("0", "1"), ("off", "on")
        elif annotation is bool:
            kind = "checkbox"
        elif annotation in (int, float):
            kind = "number"
        else:
            kind = "text"
        extra = info.json_schema_extra
        fields.append(
            FormField(
                name=name,
                label=name,
                hint=info.description or "",
                kind=kind,
                default=info.default,
                optional=optional,
                choices=choices,
                labels=labels,
                step="1" if annotation is int else "any",
                minimum=minimum,
                empty=str(extra.get("empty", "no limit")) if isinstance(extra, dict) else "no limit",
            )
        )
    return fields


def readable(item: Mapping[str, Any]) -> str:
    """pydantic's message, said the way a form says it."""
    kind, ctx = item["type"], item.get("ctx") or {}
    if item.get("input") == "" or kind == "missing":
        return "Required: enter a value."
    if kind != "float_parsing" and str(item.get("input")).strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
        return "Enter a finite number."
    if kind == "greater_than_equal":
        return f"Must be at least {ctx['ge']}."
    if kind == "greater_than":
        return f"Must be more than {ctx['gt']}."
    if kind == "less_than_equal":
        return f"Must be at most {ctx['le']}."
    if kind in ("int_parsing", "int_from_float"):
        return "Enter a whole number."
    if kind == "float_parsing":
        return "Enter a number."
    if kind == "literal_error":
        return f"Choose one of {ctx.get('expected', 'the listed values')}."
    if kind == "string_pattern_mismatch":
        return "Must start with / and contain no spaces."
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    return str(item["msg"])


def error_field(item: Mapping[str, Any]) -> str:
    """The field an error belongs to: its location, or for a check across fields (which has
    none) the field its context names; `__all__` for the form as a whole."""
    if item["loc"]:
        return str(item["loc"][0])
    return str((item.get("ctx") or {}).get("field", "__all__"))


def field_errors(error: ValidationError) -> dict[str, str]:
    """One readable message per field, as shown next to it."""
    messages: dict[str, str] = {}
    for item in error.errors():
        messages.setdefault(error_field(item), readable(item))
    return messages
