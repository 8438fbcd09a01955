"""The wire format of server events: one short text line per fact, target → control app.
Both sides import this module, so it imports nothing of `app`.

`taken` from the listening socket's accept() (asyncio's loop calls it; uvloop accepts in
C), `accepted`/`closed` from uvicorn's protocol, `enter`/`leave` from the ASGI wrapper,
`ready` once per worker after startup. Text lines keep the target side to one f-string.
"""

from __future__ import annotations

from dataclasses import dataclass

# Every response the workload app produces carries this header, so the client can tell the
# app's 503 from uvicorn's admission-control 503.
APP_HEADER = "x-connscope-app"


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """One fact reported by the instrumented uvicorn inside the target."""

    kind: str  # "taken" | "accepted" | "enter" | "leave" | "closed"
    pid: int
    port: int
    t_ns: int
    status: int | None = None


KINDS = frozenset({"ready", "taken", "accepted", "enter", "leave", "closed"})


def encode(kind: str, pid: int, port: int, t_ns: int, status: int | None = None) -> bytes:
    tail = "" if status is None else f" {status}"
    return f"{kind} {pid} {port} {t_ns}{tail}\n".encode()


_KINDS = {kind.encode(): kind for kind in KINDS}


def decode(line: bytes) -> ServerEvent:
    parts = line.split()
    kind = _KINDS.get(parts[0]) if parts else None
    if kind is None or len(parts) not in (4, 5):
        raise ValueError(f"malformed server event: {line!r}")
    try:
        status = int(parts[4]) if len(parts) == 5 else None
        return ServerEvent(kind, int(parts[1]), int(parts[2]), int(parts[3]), status)
    except ValueError:
        raise ValueError(f"malformed server event: {line!r}") from None
