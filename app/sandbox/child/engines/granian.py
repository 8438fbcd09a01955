"""Granian on the inherited listening socket.

Granian has no option to serve a given descriptor: on Linux each worker binds the address
itself. Its own shared-socket path (used where it cannot rebind, e.g. Windows) takes a
`SocketHolder` over a descriptor; the subclass puts the inherited socket there, so every
worker accepts from the one queue the kernel witness watches. That path is internal to
Granian, hence the pin on its minor version in pyproject.toml.
"""

from __future__ import annotations

import socket
from typing import Any

from granian._granian import SocketHolder
from granian.constants import HTTPModes, Interfaces, Loops
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server.mp import MPServer

from app.sandbox.child import userapp
from app.sandbox.settings import TargetSettings


class OnInheritedSocket(MPServer):
    fd: int

    def _init_shared_socket(self) -> None:
        # Granian's stub omits the constructor's arguments: descriptor, is-Unix-socket, backlog.
        holder: Any = SocketHolder
        self._ssp = None
        self._shd = holder(self.fd, False, self.backlog)
        self._sfd = self.fd  # type: ignore[assignment]  # declared None until a socket exists
        # Closed at shutdown: later clients are refused, as when uvicorn exits.
        self._sso = socket.socket(fileno=self.fd)


def run(settings: TargetSettings, fd: int) -> None:
    server = OnInheritedSocket(
        userapp.factory(),
        factory=True,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        loop=Loops(settings.loop),
        http=HTTPModes.http1,
        websockets=False,
        backlog=settings.backlog,
        backpressure=settings.backpressure,
        http1_settings=HTTP1Settings(keep_alive=settings.http1_keep_alive is not False),
        log_level=LogLevels.warning,
    )
    server.fd = fd
    server.serve()
