"""The command line's flags: uvicorn's names for target settings, the burst's, the dashboard's."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from app.export import FORMATS
from app.fields import error_field, form_fields, readable
from app.limits import RUN_CAPS, SWEEP_CAPS, add_limit_flags
from app.sandbox.settings import EXPLICIT, TargetSettings
from app.scenarios import BY_ID
from app.store import default_path
from app.traffic.spec import BurstSpec

T = TypeVar("T")

# flag → (model, field): flags are each engine's own names for its settings.
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
    "--server": "server",
    "--max-requests": "max_requests",
    "--gunicorn-timeout": "gunicorn_timeout",
    "--graceful-timeout": "graceful_timeout",
    "--backpressure": "backpressure",
    "--http1-keep-alive": "http1_keep_alive",
    "--keep-alive-timeout": "keep_alive_timeout",
    "--handler-p99-ms": "handler_p99_ms",
    "--handler-mix": "handler_mix",
    "--handler-seed": "handler_seed",
    "--app": "app",
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
    "--rate-end": "rate_end",
    "--seed": "seed",
    "--method": "method",
    "--paths": "paths",
    "--mix": "mix",
    "--slow-s": "slow_s",
}


CLI_HINTS = {
    "app": "serve your ASGI app (module:attribute, imported from --app-dir) instead of the workload",
}
"""A setting's help where the form's hint speaks of the dashboard ("one the operator listed")."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"connscope: error: {message} (see --help)\n")


class _Once(argparse.Action):
    """A setting's flag, refused when given twice: argparse would keep the last value and
    silently drop the first (`compare --app a:app --app b:app` then served b's app on both
    sides). `hint` says what was likely meant ({flag} stands for the flag's name)."""

    def __init__(self, *args: Any, hint: str = "give it once", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hint = hint

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: str | None = None
    ) -> None:
        given = getattr(namespace, self.dest, None)
        if given is not None and given != values:
            flag = option or self.option_strings[0]
            hint = self.hint.format(flag=flag, name=flag[2:], values=f"{given},{values}")
            parser.error(f"{flag} is given twice ({given}, then {values}): {hint}")
        setattr(namespace, self.dest, values)


def _add_model_flags(
    parser: argparse._ActionsContainer, model: type[BaseModel], flags: dict[str, str], hint: str = "give it once"
) -> None:
    fields = {f.name: f for f in form_fields(model, tuple(flags.values()))}
    for flag, name in flags.items():
        field = fields[name]
        said = CLI_HINTS.get(name, field.hint)
        choices = [str(c) for c in field.choices] or None
        parser.add_argument(
            flag,
            dest=name,
            action=_Once,
            hint=hint,
            default=None,
            choices=choices,
            metavar=None if choices else name.upper(),
            # An empty default's meaning is in the hint already ("not given: no limit").
            help=said if field.default in (None, "") else f"{said} (default: {field.default})",
        )


def _add_list_flags(parser: argparse._ActionsContainer, model: type[BaseModel], flags: dict[str, str]) -> None:
    """The model's flags, each taking one value or a comma-separated list to sweep."""
    fields = {f.name: f for f in form_fields(model, tuple(flags.values()))}
    for flag, name in flags.items():
        field = fields[name]
        choices = f"; one or more of {','.join(str(c) for c in field.choices)}" if field.choices else ""
        said = CLI_HINTS.get(name, field.hint)
        none = "; `none` for not given" if field.optional else ""
        parser.add_argument(
            flag,
            dest=name,
            action=_Once,
            hint="to sweep both, give a list: {flag} {values}",
            default=None,
            metavar=name.upper() + "[,…]",
            help=f"{said} (default: {field.default}{choices}{none})",
        )


def _add_compare_parser(sub: Any) -> None:
    compare = sub.add_parser(
        "compare",
        help="fire one burst at two targets, one after the other, and say what differs",
        description="The target flags set both sides; -a and -b set one side's settings, by flag name "
        "(connscope compare --limit-concurrency 4 -b limit-concurrency=8). Both bursts follow one seeded schedule.",
    )
    compare.add_argument(
        "-a",
        "--set-a",
        dest="a",
        action="append",
        metavar="SETTING=VALUE",
        help="a setting of target A only (repeat for more; an empty VALUE: its default)",
    )
    compare.add_argument(
        "-b",
        "--set-b",
        dest="b",
        action="append",
        metavar="SETTING=VALUE",
        help="a setting of target B only (repeat for more; an empty VALUE: its default)",
    )
    targets = compare.add_argument_group("both targets (server engine settings and workload)")
    _add_model_flags(targets, TargetSettings, TARGET_FLAGS, hint="for one side only, give -a {name}=… or -b {name}=…")
    targets.add_argument("--no-instrument", action="store_true", help="run both servers plain: no server witness")
    targets.add_argument("--app-dir", metavar="DIR", help="the directory an --app is imported from")
    bursts = compare.add_argument_group("burst (the same for both)")
    _add_model_flags(bursts, BurstSpec, BURST_FLAGS)
    compare.add_argument("--json", action="store_true", help="print both results, the table and the finding as JSON")
    compare.add_argument("--record", action="store_true", help="store both runs and the comparison for the dashboard")
    compare.add_argument(
        "--report", metavar="FILE", help="write the comparison's Markdown report, its PNG and JSON beside it"
    )
    _add_store_flag(compare)
    add_limit_flags(compare, RUN_CAPS)


def _add_sweep_parser(sub: Any) -> None:
    sweep = sub.add_parser(
        "sweep",
        help="run a burst against a grid of settings (any flag may be a comma-separated list), each on a fresh target",
    )
    targets = sweep.add_argument_group("target (uvicorn settings and workload; a list sweeps the setting)")
    _add_list_flags(targets, TargetSettings, TARGET_FLAGS)
    targets.add_argument("--no-instrument", action="store_true", help="run plain uvicorn: no server witness")
    targets.add_argument("--app-dir", metavar="DIR", help="the directory every --app is imported from")
    bursts = sweep.add_argument_group("burst (a list sweeps the setting)")
    _add_list_flags(bursts, BurstSpec, BURST_FLAGS)
    sweep.add_argument("--repeat", type=int, default=1, metavar="N", help="run every cell N times (default: 1)")
    sweep.add_argument("--json", action="store_true", help="print the sweep and every run's result as one JSON object")
    sweep.add_argument("--plot", type=Path, metavar="DIR", help="write sweep.png, sweep.html and sweep.json into DIR")
    sweep.add_argument("--report", type=Path, metavar="DIR", help="write report.md, sweep.png and report.json into DIR")
    sweep.add_argument("--no-record", action="store_true", help="do not store the sweep and its runs")
    _add_store_flag(sweep)
    add_limit_flags(sweep, SWEEP_CAPS)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="connscope", description=__doc__)
    dashboard = parser.add_argument_group("the dashboard (no command, or `serve`)")
    _add_serve_flags(dashboard, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", title="commands")
    # Flags given before `serve` stand: the subcommand sets only what is given after it.
    serve = sub.add_parser("serve", help="serve the dashboard (the default)")
    _add_serve_flags(serve, argparse.SUPPRESS)
    run = sub.add_parser("run", help="start a target, fire one burst, print what happened")
    targets = run.add_argument_group("target (server engine settings and workload)")
    _add_model_flags(targets, TargetSettings, TARGET_FLAGS)
    targets.add_argument(
        "--no-instrument", action="store_true", help="run the server plain: no server witness inside it"
    )
    targets.add_argument("--app-dir", metavar="DIR", help="the directory --app is imported from")
    bursts = run.add_argument_group("burst")
    _add_model_flags(bursts, BurstSpec, BURST_FLAGS)
    run.add_argument(
        "--json",
        action="store_true",
        help="print the full result as one JSON object on stdout (a line per target: a two-target scenario prints two)",
    )
    run.add_argument(
        "--scenario",
        choices=list(BY_ID),
        metavar="ID",
        help="start from a guided scenario's settings and burst (flags given override them)",
    )
    run.add_argument("--record", action="store_true", help="store the run (prints its id) for the dashboard")
    _add_store_flag(run)
    add_limit_flags(run, RUN_CAPS)
    _add_sweep_parser(sub)
    _add_compare_parser(sub)
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
    report = sub.add_parser(
        "report", help="write a Markdown report of a recorded run, with its plot (PNG) and JSON beside it"
    )
    report.add_argument("record_id", metavar="ID", help="a run's id, or sweep:ID or comparison:ID")
    report.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="the Markdown file; report.png and report.json go beside it",
    )
    _add_store_flag(report)
    return parser


def _add_store_flag(parser: argparse._ActionsContainer, default: Any = None) -> None:
    parser.add_argument(
        "--store",
        type=Path,
        default=default,
        metavar="PATH",
        help=f"SQLite file of recorded runs (default: {default_path()})",
    )


def model_from_flags(
    model: type[T], flags: dict[str, str], args: argparse.Namespace, base: dict[str, Any], **extra: Any
) -> T:
    given = {name: getattr(args, name) for name in flags.values() if getattr(args, name) is not None}
    try:
        # The flags typed by name: another engine's is refused even at its default value.
        return model.model_validate(  # type: ignore[attr-defined,no-any-return]
            base | given | extra, context={EXPLICIT: frozenset(given)}
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        name = error_field(error)
        flag = next((f for f, n in flags.items() if n == name), name)
        # A refusal across fields (this engine has no such setting) may concern a value
        # from a scenario, not from a flag: say the value the model saw.
        value = given.get(name, (base | extra).get(name))
        given_value = "" if value is None else f" {value}"
        print(f"connscope: error: {flag}{given_value}: {readable(error)}", file=sys.stderr)
        raise SystemExit(2) from None


SERVE_DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 8000,
    "offline": False,
    "store": None,
    "allow_host": [],
    "apps": [],
    "app_dirs": [],
}


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
    parser.add_argument(
        "--app",
        dest="apps",
        action="append",
        default=default,
        metavar="MODULE:ATTR",
        help="your ASGI app, which the form may then choose to serve instead of the workload (repeatable)",
    )
    parser.add_argument(
        "--app-dir",
        dest="app_dirs",
        action="append",
        default=default,
        metavar="DIR",
        help="where --app is imported from (one for all, or one per --app)",
    )
