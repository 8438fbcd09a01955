"""What connscope refuses or cannot do, in one hierarchy: each is one line the user can act
on, said at the edge (the CLI's one-line error, the web layer's exception handlers)."""

from __future__ import annotations

from typing import Any


class ConnscopeError(Exception):
    """Something connscope cannot do; the message says why, in one line."""


class TargetError(ConnscopeError):
    """The target could not start; the message carries exit status and output tail."""


class NetnsError(ConnscopeError):
    """The private network namespace could not be made; the message says why."""


class StoreError(ConnscopeError):
    """The run store cannot be used: missing, unwritable or not a run store. One line."""


class CapExceeded(ConnscopeError):
    """A request over one of the caps: refused before anything starts."""

    def __init__(self, cap: str, flag: str, field_name: str, message: str) -> None:
        super().__init__(message)
        self.cap = cap
        self.flag = flag
        self.field = field_name
        self.message = message

    def detail(self, where: str = "body") -> list[dict[str, Any]]:
        """In the shape of pydantic's validation errors, so one client handles both."""
        loc = [where] if self.field == "__all__" else [where, self.field]
        return [{"type": "cap_exceeded", "loc": loc, "msg": self.message, "ctx": {"cap": self.cap, "flag": self.flag}}]
