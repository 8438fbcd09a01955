"""`connscope [--port …]`: serve the dashboard; `connscope run …`: one burst, headless."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import resource
import socket
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from app.errors import CapExceeded, ConnscopeError, StoreError, TargetError
from app.experiment import run_once
from app.export import FORMATS
from app.fields import form_fields, readable
from app.limits import RUN_CAPS, add_limit_flags, limits_from
from app.result import RunResult
from app.sandbox.settings import TargetSettings
from app.scenarios import BY_ID, SCENARIOS
from app.store import RunStore, default_path
from app.timeline import summary
from app.timeline.model import Outcome, State
from app.traffic.burst import Burst
from app.traffic.spec import BurstSpec

T = TypeVar("T")

# flag → (model, field): flags are uvicorn's names where the setting is uvicorn's.
TARGET_FLAGS = {
    "--limit-concurrency": "limit_concurrency",
    "--backlog": "backlog",
    "--timeout-keep-alive": "timeout_keep_alive",
    "--limit-max-requests": "limit_max_requests",
    "--workers": "workers",
    "--http": "http",
    "--loop": "loop",
    "--handler": "handler",
    "--handler-ms": "handler_ms",
    "--latency": "latency",
    "--response-bytes": "response_bytes",
    "--memory-limit-mb": "memory_limit_mb",
    "--somaxconn": "somaxconn",
    "--tcp-abort-on-overflow": "tcp_abort_on_overflow",
    "--tcp-syncookies": "tcp_syncookies",
}
BURST_FLAGS = {
    "--connections": "connections",
    "--pattern": "pattern",
    "--ramp-s": "ramp_s",
    "--rate": "rate",
    "--requests-per-connection": "requests_per_connection",
    "--pause-ms": "pause_ms",
    "--client-timeout": "client_timeout_s",
    "--path": "path",
}


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"connscope: error: {message} (see --help)\n")


def _add_model_flags(parser: argparse._ActionsContainer, model: type[BaseModel], flags: dict[str, str]) -> None:
    fields = {f.name: f for f in form_fields(model, tuple(flags.values()))}
    for flag, name in flags.items():
        field = fields[name]
        choices = [str(c) for c in field.choices] or None
        parser.add_argument(
            flag,
            dest=name,
            default=None,
            choices=choices,
            metavar=None if choices else name.upper(),
            help=f"{field.hint} (default: {field.default})",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="connscope", description=__doc__)
    dashboard = parser.add_argument_group("the dashboard (no command, or `serve`)")
    _add_serve_flags(dashboard, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", title="commands")
    # Flags given before `serve` stand: the subcommand sets only what is given after it.
    serve = sub.add_parser("serve", help="serve the dashboard (the default)")
    _add_serve_flags(serve, argparse.SUPPRESS)
    run = sub.add_parser("run", help="start a target, fire one burst, print what happened")
    targets = run.add_argument_group("target (uvicorn settings and workload)")
    _add_model_flags(targets, TargetSettings, TARGET_FLAGS)
    targets.add_argument("--no-instrument", action="store_true", help="run plain uvicorn: no server witness")
    bursts = run.add_argument_group("burst")
    _add_model_flags(bursts, BurstSpec, BURST_FLAGS)
    run.add_argument("--json", action="store_true", help="print the full result as one JSON object on stdout")
    run.add_argument(
        "--scenario",
        choices=list(BY_ID),
        metavar="ID",
        help="start from a guided scenario's settings and burst (flags given override them)",
    )
    run.add_argument("--record", action="store_true", help="store the run (prints its id) for the dashboard")
    _add_store_flag(run)
    add_limit_flags(run, RUN_CAPS)
    sub.add_parser("scenarios", help="list the guided scenarios: id and title")
    runs = sub.add_parser("runs", help="list recorded runs (`runs delete ID` deletes one)")
    _add_store_flag(runs)
    runs_sub = runs.add_subparsers(dest="runs_command")
    delete = runs_sub.add_parser("delete", help="delete a recorded run")
    delete.add_argument("run_id", type=int, metavar="ID")
    # Either place for --store (`runs --store P delete ID` or `runs delete ID --store P`):
    # SUPPRESS keeps this one from overwriting the other with its default.
    delete.add_argument(
        "--store", type=Path, default=argparse.SUPPRESS, metavar="PATH", help="SQLite file of recorded runs"
    )
    export = sub.add_parser("export", help="write a recorded run as JSON, CSV or self-contained HTML")
    export.add_argument("run_id", type=int, metavar="RUN_ID")
    export.add_argument("--format", choices=list(FORMATS), default="json")
    export.add_argument("-o", "--output", required=True, metavar="FILE", help="file to write ('-' for stdout)")
    _add_store_flag(export)
    return parser


def _add_store_flag(parser: argparse._ActionsContainer, default: Any = None) -> None:
    parser.add_argument(
        "--store",
        type=Path,
        default=default,
        metavar="PATH",
        help=f"SQLite file of recorded runs (default: {default_path()})",
    )


SERVE_DEFAULTS: dict[str, Any] = {"host": "127.0.0.1", "port": 8000, "offline": False, "store": None, "allow_host": []}


def _add_serve_flags(parser: argparse._ActionsContainer, default: Any) -> None:
    """The dashboard's flags; unset ones are absent (`default`) and take SERVE_DEFAULTS."""
    parser.add_argument("--host", default=default, help="address to serve on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=default, help="port to serve on (default: 8000)")
    parser.add_argument(
        "--offline", action="store_true", default=default, help="serve only the local copies of front-end files"
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=default,
        metavar="NAME",
        help="also answer to this Host name (repeatable), e.g. behind a proxy; others get 400",
    )
    _add_store_flag(parser, default)
    add_limit_flags(parser, default=default)


def _model(model: type[T], flags: dict[str, str], args: argparse.Namespace, base: dict[str, Any], **extra: Any) -> T:
    given = {name: getattr(args, name) for name in flags.values() if getattr(args, name) is not None}
    try:
        return model.model_validate(base | given | extra)  # type: ignore[attr-defined,no-any-return]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        flag = next((f for f, n in flags.items() if n == name), name)
        value = given.get(name)
        print(f"connscope: error: {flag} {value}: {readable(error)}", file=sys.stderr)
        raise SystemExit(2) from None


def raise_open_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """The client runs on uvloop where installed, as DESIGN.md says."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


def progress_line(burst: Burst) -> str:
    counts = summary.current_counts(burst.records)
    live = " · ".join(f"{s.value} {counts[s.value]}" for s in State if s is not State.CLOSED)
    return f"{burst.finished_connections}/{burst.spec.connections} done · {live}"


async def _progress(burst: Burst) -> None:
    tty = sys.stderr.isatty()
    try:
        while True:
            await asyncio.sleep(0.2 if tty else 1.0)
            line = progress_line(burst)
            sys.stderr.write(f"\r\033[K{line}" if tty else f"{line}\n")
            sys.stderr.flush()
    except asyncio.CancelledError:
        # A terminal's line is wiped; a log gets the final state instead of a stale one.
        sys.stderr.write("\r\033[K" if tty else f"{progress_line(burst)}\n")
        raise


def render_table(result: RunResult) -> str:
    s, b, t, target = result.settings, result.burst, result.totals, result.target
    limit = "none" if s.limit_concurrency is None else s.limit_concurrency
    lines = [
        f"target   limit_concurrency={limit} backlog={s.backlog} workers={s.workers} "
        f"http={s.http} loop={s.loop} handler={s.handler} {s.handler_ms:g} ms",
        f"         127.0.0.1:{target.port}, {target.isolation}, "
        + (f"now {target.state} ({target.exit})" if target.state != "ready" else "still running"),
        f"burst    {b.connections} connections, {b.pattern}, {b.requests_per_connection} request(s) each, "
        f"client timeout {b.client_timeout_s:g} s",
        "",
        f"{'outcome':<12}{'requests':>10}",
    ]
    counts = t.model_dump()
    lines += [f"{o.value:<12}{counts[o.value]:>10}" for o in Outcome]
    lines += [f"{'total':<12}{t.requests:>10}", "", f"{'peak at once':<16}{'connections':>12}"]
    lines += [f"{name:<16}{value!s:>12}" for name, value in result.peaks.model_dump().items()]
    lines.append(f"accept queue capacity (kernel): {result.accept_queue_capacity}")
    if result.timeouts_by_state:
        where = ", ".join(f"{n} {state.value}" for state, n in result.timeouts_by_state.items())
        lines.append(f"timed out while: {where}")
    lat, con = result.latency_ms.model_dump(), result.connect_ms.model_dump()
    lines += [
        "",
        "latency ms   " + "  ".join(f"{k} {v}" for k, v in lat.items()),
        "connect ms   " + "  ".join(f"{k} {v}" for k, v in con.items()),
    ]
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    scenario = BY_ID[args.scenario] if args.scenario else None
    settings = _model(
        TargetSettings,
        TARGET_FLAGS,
        args,
        scenario.settings.model_dump() if scenario else {},
        instrument=not args.no_instrument,
    )
    spec = _model(BurstSpec, BURST_FLAGS, args, scenario.burst.model_dump() if scenario else {})
    limits = limits_from(args)
    try:
        limits.check_target(settings)
        limits.check_burst(spec)
        # Checked before anything starts: a run is never fired only to be lost at the end.
        store = RunStore(args.store) if args.record else None
    except (CapExceeded, StoreError) as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return 2
    raise_open_file_limit()
    try:
        result = run_async(lambda: run_once(settings, spec, watch=_progress))
    except TargetError as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return 1
    if scenario is not None:
        result = result.model_copy(update={"scenario": scenario.id, "finding": scenario.finding(result)})
    status = 0
    if store is not None:
        try:
            run_id = store.save(result)
        except StoreError as exc:
            print(f"connscope: error: the run was not recorded: {exc}", file=sys.stderr)
            status = 1
        else:
            result = result.model_copy(update={"run_id": run_id})
            print(f"recorded as run {run_id}", file=sys.stderr)
    if args.json:
        print(result.model_dump_json())
    else:
        print(render_table(result))
        if scenario is not None:
            print(f"\n{scenario.title}\n{result.finding}")
    return status


def _existing_store(path: Path | None) -> RunStore | None:
    """The store to read from, or None (said on stderr) when there is none at that path."""
    where = path or default_path()
    if not where.is_file():
        print(f"connscope: error: no run store at {where} (record runs with `connscope run --record`)", file=sys.stderr)
        return None
    try:
        return RunStore(where)
    except StoreError as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return None


def cmd_runs(args: argparse.Namespace) -> int:
    store = _existing_store(args.store)
    if store is None:
        return 2
    if args.runs_command == "delete":
        if not store.delete(args.run_id):
            print(f"connscope: error: no run {args.run_id} in {store.path}", file=sys.stderr)
            return 2
        print(f"deleted run {args.run_id}", file=sys.stderr)
        return 0
    try:
        runs = store.list()
    except StoreError as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return 2
    for run in runs:
        print(f"{run.id}\t{run.recorded_at}\t{run.scenario or '-'}\t{run.summary}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    store = _existing_store(args.store)
    if store is None:
        return 2
    try:
        result = store.get(args.run_id)
    except StoreError as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return 2
    if result is None:
        print(f"connscope: error: no run {args.run_id} in {args.store or default_path()}", file=sys.stderr)
        return 2
    text = FORMATS[args.format](result)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        try:
            Path(args.output).write_text(text)
        except OSError as exc:
            print(f"connscope: error: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return 2
        print(f"wrote run {args.run_id} as {args.format} to {args.output}", file=sys.stderr)
    return 0


def cmd_scenarios() -> int:
    for scenario in SCENARIOS:
        print(f"{scenario.id}\t{scenario.title}")
    return 0


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
    from app.web.security import TOKEN_ENV, Access

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
    store = RunStore(args.store)
    raise_open_file_limit()
    access = Access.for_bind(args.host, args.port, args.allow_host, os.environ.get(TOKEN_ENV))
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"connscope dashboard: {access.audience_url or f'http://{host}:{args.port}/'}", file=sys.stderr, flush=True)
    if access.needs_token:
        print(
            f"Off loopback: control needs a token ({TOKEN_ENV} sets it).\n"
            f"  control link, for you only: {access.audience_url}?token={access.token}\n"
            f"  audience link, read-only:   {access.audience_url}",
            file=sys.stderr,
            flush=True,
        )
    app = create_app(offline=args.offline, store=store, limits=limits, access=access)
    # The page sends no WebSocket messages of its own: a large one is a client misbehaving.
    config = uvicorn.Config(
        app, loop="uvloop", log_level="warning", ws="websockets-sansio", ws_max_size=limits.request_bytes
    )
    # uvicorn shuts down gracefully on Ctrl-C, then raises it again: the dashboard's normal end.
    with sock, contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ConnscopeError as exc:
        print(f"connscope: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C during a burst or a start-up is the user's choice, not a crash: no traceback.
        print("connscope: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        return cmd_run(args)
    if args.command == "scenarios":
        return cmd_scenarios()
    if args.command == "runs":
        return cmd_runs(args)
    if args.command == "export":
        return cmd_export(args)
    for name, default in SERVE_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    return cmd_serve(args)


if __name__ == "__main__":
    sys.exit(main())
