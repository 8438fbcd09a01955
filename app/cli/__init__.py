"""`connscope [--port …]`: serve the dashboard; `connscope run …`: one burst, headless;
`connscope compare …`: one burst at two targets; `connscope report ID`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app.cli.compare import cmd_compare
from app.cli.parser import SERVE_DEFAULTS, build_parser
from app.cli.run import cmd_run, cmd_scenarios, raise_open_file_limit, run_async
from app.cli.runs import cmd_export, cmd_runs
from app.cli.serve import cmd_serve
from app.cli.sweep import cmd_sweep
from app.errors import ConnscopeError
from app.report import cmd_report

__all__ = ["build_parser", "main", "raise_open_file_limit", "run_async"]


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
    if args.command == "sweep":
        return cmd_sweep(args)
    if args.command == "compare":
        return cmd_compare(args)
    if args.command == "scenarios":
        return cmd_scenarios()
    if args.command == "runs":
        return cmd_runs(args)
    if args.command == "export":
        return cmd_export(args)
    if args.command == "report":
        return cmd_report(args)
    for name, default in SERVE_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    return cmd_serve(args)
