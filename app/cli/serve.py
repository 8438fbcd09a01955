"""`connscope [serve]`: the dashboard on a socket bound before anything is printed."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import socket
import sys

from app.cli.run import raise_open_file_limit
from app.limits import limits_from
from app.sandbox.apps import listed_apps
from app.store import RunStore


def listening_socket(host: str, port: int) -> socket.socket | str:
    """The dashboard's socket, bound before anything is printed; or why it cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        return f"--host {host}: {exc.strerror}"
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            return f"--port {port}: {host}:{port} is already in use (choose another with --port)"
        return f"--host {host} --port {port}: cannot listen there: {exc.strerror}"
    return sock


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.assets import missing
    from app.web.app import create_app
    from app.web.security import TOKEN_ENV, Access, is_loopback

    if not 0 < args.port < 65536:
        print(f"connscope: error: --port {args.port}: not a port number", file=sys.stderr)
        return 2
    absent = missing()
    if absent and args.offline:
        names = ", ".join(f"{a.package}/{a.path}" for a in absent)
        print(
            f"connscope: error: --offline needs the local front-end files ({names}); run: python -m app.assets",
            file=sys.stderr,
        )
        return 2
    sock = listening_socket(args.host, args.port)
    if isinstance(sock, str):
        print(f"connscope: error: {sock}", file=sys.stderr)
        return 2
    limits = limits_from(args)
    try:
        apps = listed_apps(args.apps or [], args.app_dirs or [])
    except ValueError as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return 2
    store = RunStore(args.store)
    raise_open_file_limit()
    chosen = os.environ.get(TOKEN_ENV)
    access = Access.for_bind(args.host, args.port, args.allow_host, chosen)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"connscope dashboard: {access.audience_url or f'http://{host}:{args.port}/'}", file=sys.stderr, flush=True)
    if access.needs_token and access.tickets is not None:
        print(
            f"Off loopback: control needs a token ({TOKEN_ENV} sets it).\n"
            f"  audience link, read-only:   {access.audience_url}\n"
            # A token the operator chose is theirs already: not shown again on a screen (or in
            # `docker logs`) they come back to for each next control link.
            f"  API token, for scripts:     {f'the one {TOKEN_ENV} gives' if chosen else access.token}"
            " (Authorization: Bearer …)",
            file=sys.stderr,
            flush=True,
        )
        control = f"{access.audience_url}?ticket="
        access.tickets.announce = lambda ticket: print(
            f"  control link, for you only, works once (the next shows here): {control}{ticket}",
            file=sys.stderr,
            flush=True,
        )
        access.tickets.mint()
    app = create_app(offline=args.offline, store=store, limits=limits, access=access, apps=apps)
    # The page sends no WebSocket messages of its own: a large one is a client misbehaving.
    # Compression is per viewer (each has its own deflate stream): on loopback it saves no
    # network and its CPU, half the generator's core with 50 viewers, comes out of the burst.
    config = uvicorn.Config(
        app,
        loop="uvloop",
        log_level="warning",
        ws="websockets-sansio",
        ws_max_size=limits.request_bytes,
        ws_per_message_deflate=not is_loopback(args.host),
    )
    # uvicorn shuts down gracefully on Ctrl-C, then raises it again: the dashboard's normal end.
    with sock, contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])
    return 0
