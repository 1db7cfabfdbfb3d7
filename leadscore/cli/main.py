"""The ``leadscore`` command: a thin dispatcher over sub-commands owned by the packages.

Each sub-command lives next to the code it drives and exposes ``add_arguments(parser)`` and
``run(args) -> int``. Modules are imported lazily so that ``leadscore --help`` stays fast and a broken
optional part cannot stop the others. Every user-fixable problem (``LeadscoreError``) becomes one readable
line and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from leadscore.core.errors import LeadscoreError
from leadscore.core.logs import configure_logging

logger = logging.getLogger(__name__)

# name -> (module, one-line help). The module provides add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": (
        "leadscore.cli.simulate",
        "write a simulated CRM export (leads + activities) to files or SQLite",
    ),
    "score": (
        "leadscore.cli.score",
        "score a CSV/Parquet export with a scoring bundle or the registered champion",
    ),
    "serve": ("leadscore.cli.serve", "start the scoring API (uvicorn, 127.0.0.1 by default)"),
    "keys": ("leadscore.cli.keys", "create or list API keys (only their hashes are stored)"),
    "models": ("leadscore.cli.models", "list registered versions, show the champion, roll back or promote"),
    "report": ("leadscore.cli.report", "build the quarterly model-accuracy report (HTML + JSON)"),
}


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser, loading each sub-command module on demand."""
    parser = argparse.ArgumentParser(prog="leadscore", description="Predictive lead scoring.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not (exc.name and module_name.startswith(exc.name)):
                raise
            sub_parser.set_defaults(_missing=module_name)
            continue
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    if getattr(args, "_missing", None):
        logger.error("command %r is not available in this build", args.command)
        return 2
    try:
        return int(args._run(args) or 0)
    except LeadscoreError as exc:
        print(f"leadscore {args.command}: error: {exc}", file=sys.stderr)  # noqa: T201 - the one readable line
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: never show a traceback unless asked
        if args.debug:
            raise
        print(  # noqa: T201
            f"leadscore {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(run with --debug for details)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
