"""``leadscore keys``: create, list and revoke API keys. Only SHA-256 hashes (with names) are written to disk.

The plain key is printed once by ``create`` and cannot be recovered; lose it and you create a new one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError

from leadscore.core.errors import ConfigError
from leadscore.serving.auth import create_key, read_keys_file, revoke_key
from leadscore.serving.settings import KEY_NAME_PATTERN, KeysFileSettings, describe_validation_error


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``keys`` sub-commands."""
    parser.add_argument(
        "--file",
        type=Path,
        default=None,
        help="keys file (default: LEADSCORE_API_KEYS_FILE or .leadscore/api_keys.json)",
    )
    actions = parser.add_subparsers(dest="keys_action", metavar="ACTION")
    actions.required = True
    create = actions.add_parser("create", help="create a key NAME and print it once")
    create.add_argument(
        "name", help="who uses the key (letters, digits, '_', '.', '-'); it appears in the logs"
    )
    actions.add_parser("list", help="list key names, creation and revocation times (never the keys)")
    revoke = actions.add_parser("revoke", help="revoke the key NAME (a running service stops accepting it)")
    revoke.add_argument("name")


def run(args: argparse.Namespace) -> int:
    """Execute the chosen action; problems are ConfigError lines (exit 2) via the dispatcher."""
    path = _keys_path(args.file)
    if args.keys_action == "create":
        if not KEY_NAME_PATTERN.match(args.name):
            raise ConfigError(f"key name {args.name!r} must be 1-64 letters, digits, '_', '.' or '-'")
        key = create_key(path, args.name)
        # The command's output: the only time the plain key exists outside the caller's hands.
        print(key)  # noqa: T201
        return 0
    if args.keys_action == "list":
        for record in read_keys_file(path):
            state = f"revoked {record.revoked_at}" if record.revoked_at else "active"
            print(f"{record.name}\tcreated {record.created_at}\t{state}")  # noqa: T201 - command output
        return 0
    revoke_key(path, args.name)
    return 0


def _keys_path(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    try:
        return KeysFileSettings().api_keys_file
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
