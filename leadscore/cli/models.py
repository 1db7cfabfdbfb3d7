"""``leadscore models``: list registered versions, show the champion, roll back or promote.

Rollback is the answer to "the new model is worse than we thought": one command moves the ``champion`` alias
back, and the API and batch scoring pick it up on their next load of ``models:/<name>@champion``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

from leadscore.core.logs import quiet_environment
from leadscore.core.params import DEFAULT_MODEL_NAME, DEFAULT_TRACKING_URI

if TYPE_CHECKING:
    from leadscore.models.registry import ChampionChange, VersionInfo

TRACKING_URI_ENV = "LEADSCORE_TRACKING_URI"


def add_tracking_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with ``leadscore score``: which MLflow store to talk to."""
    parser.add_argument(
        "--tracking-uri",
        default=os.environ.get(TRACKING_URI_ENV, DEFAULT_TRACKING_URI),
        help=f"MLflow tracking/registry URI (env {TRACKING_URI_ENV}; default {DEFAULT_TRACKING_URI})",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``leadscore models``."""
    add_tracking_arguments(parser)
    parser.add_argument(
        "--model-name", default=DEFAULT_MODEL_NAME, help=f"registered model (default {DEFAULT_MODEL_NAME})"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", help="all versions, newest first, with aliases and comparison tags")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    champion = actions.add_parser("champion", help="the version the champion alias points at")
    champion.add_argument("--json", action="store_true", help="machine-readable output")
    back = actions.add_parser(
        "rollback", help="move champion back to the previous champion (or --to VERSION)"
    )
    back.add_argument("--to", dest="to_version", metavar="VERSION", help="roll back to this version instead")
    forward = actions.add_parser("promote", help="make VERSION the champion")
    forward.add_argument("version", metavar="VERSION")


def run(args: argparse.Namespace) -> int:
    """Carry out the action; output goes to stdout, errors surface as LeadscoreError (exit 2)."""
    quiet_environment()
    # Imported here: mlflow takes seconds to import and `leadscore --help` loads every sub-command's parser.
    from leadscore.models.registry import get_champion, list_versions, promote, rollback

    name, uri = args.model_name, args.tracking_uri
    if args.action == "list":
        versions = list_versions(name, tracking_uri=uri)
        _write(json.dumps([v.to_dict() for v in versions], indent=2) if args.json else _table(versions))
    elif args.action == "champion":
        info = get_champion(name, tracking_uri=uri)
        _write(json.dumps(info.to_dict(), indent=2) if args.json else _table([info]))
    elif args.action == "rollback":
        _write(_describe(rollback(name, args.to_version, tracking_uri=uri)))
    else:
        _write(_describe(promote(name, args.version, tracking_uri=uri)))
    return 0


def _table(versions: list[VersionInfo]) -> str:
    header = ("version", "aliases", "created (UTC)", "decision", "metric", "new", "champion", "bundle")
    rows = [header]
    for info in versions:
        tags = info.tags
        rows.append(
            (
                info.version,
                ",".join(info.aliases) or "-",
                info.created_at.replace("+00:00", ""),
                tags.get("decision", "-"),
                tags.get("compare.metric", "-"),
                tags.get("compare.new", "-") or "-",
                tags.get("compare.champion", "-") or "-",
                tags.get("bundle_version", "-")[:12],
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _describe(change: ChampionChange) -> str:
    if not change.changed:
        return f"{change.name}: version {change.champion_version} is already the champion"
    return (
        f"{change.name}: champion is now version {change.champion_version}"
        f" (previous champion: {change.previous_champion_version or 'none'})"
    )


def _write(text: str) -> None:
    # The command's result, not a log line: it goes to stdout so it can be piped.
    sys.stdout.write(text + "\n")
