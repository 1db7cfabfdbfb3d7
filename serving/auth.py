"""API keys: generation, SHA-256 hashing, the keys file, and the constant-time check used on every request.

Only hashes are ever stored: a leaked keys file or database does not leak a usable key. The check compares the
presented key's hash with *every* active hash using ``hmac.compare_digest`` and never stops early, so the time
a request takes does not tell an attacker which (or whether any) stored key shares a prefix with its guess.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from leadscore.core.errors import ConfigError

logger = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
KEY_PREFIX = "lsk_"  # recognisable in secret scanners and in a user's clipboard
_KEYS_FILE_VERSION = 1


def hash_key(key: str) -> str:
    """SHA-256 hex digest of an API key (random 256-bit keys need no salt or slow KDF)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    """A new random API key with 256 bits of entropy."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class KeyRecord:
    """One entry of the keys file. Revoked keys stay in the file (audit trail) but never authenticate."""

    name: str
    sha256: str
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        """Whether this key may authenticate."""
        return self.revoked_at is None


def read_keys_file(path: Path) -> list[KeyRecord]:
    """Read the keys file; a missing file is an empty list (no keys yet).

    Raises:
        ConfigError: the file exists but is not a keys file written by ``leadscore keys``.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ConfigError(f"API keys file {path} cannot be read: {type(exc).__name__}") from None
    try:
        return [KeyRecord(**entry) for entry in raw["keys"]]
    except (KeyError, TypeError):
        raise ConfigError(f"API keys file {path} is not in the format written by `leadscore keys`") from None


def write_keys_file(path: Path, records: list[KeyRecord]) -> None:
    """Write the keys file atomically (temp file + rename) and readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"version": _KEYS_FILE_VERSION, "keys": [asdict(r) for r in records]}
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
            handle.write("\n")
        os.chmod(tmp_name, 0o600)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def create_key(path: Path, name: str) -> str:
    """Create a key NAME in the keys file and return the plain key (shown once, never stored).

    Raises:
        ConfigError: an active key of that name exists (revoke it first: names identify keys in the logs).
    """
    records = read_keys_file(path)
    if any(r.name == name and r.active for r in records):
        raise ConfigError(f"an active key named {name!r} already exists; revoke it first")
    key = generate_key()
    records.append(KeyRecord(name=name, sha256=hash_key(key), created_at=_now_iso()))
    write_keys_file(path, records)
    logger.info("created API key %r in %s", name, path)
    return key


def revoke_key(path: Path, name: str) -> None:
    """Mark the active key NAME as revoked; a running service stops accepting it within its refresh interval.

    Raises:
        ConfigError: there is no active key of that name.
    """
    records = read_keys_file(path)
    if not any(r.name == name and r.active for r in records):
        raise ConfigError(f"no active key named {name!r} in {path}")
    now = _now_iso()
    write_keys_file(path, [replace(r, revoked_at=now) if r.name == name and r.active else r for r in records])
    logger.info("revoked API key %r in %s", name, path)


class ApiKeyAuthenticator:
    """Resolves a presented key to its name, or None.

    Active keys come from the keys file and from ``LEADSCORE_API_KEYS`` pairs. The file is re-read when its
    modification time changes (checked at most every ``refresh_seconds``), so ``leadscore keys revoke`` takes
    effect on a running service without a restart.
    """

    def __init__(
        self, keys_file: Path | None, env_hashes: Mapping[str, str], *, refresh_seconds: float = 2.0
    ) -> None:
        self._keys_file = keys_file
        self._env_hashes = dict(env_hashes)
        self._refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._file_stamp: tuple[int, int] | None = None
        self._next_check = 0.0
        self._hashes: tuple[tuple[str, bytes], ...] = ()
        self._refresh(force=True)

    @property
    def key_names(self) -> list[str]:
        """Names of the keys that currently authenticate."""
        self._maybe_refresh()
        return [name for name, _ in self._hashes]

    def authenticate(self, presented: str | None) -> str | None:
        """Return the name of the key that matches ``presented``, comparing against every stored hash."""
        self._maybe_refresh()
        if not presented:
            return None
        digest = hash_key(presented).encode("ascii")
        matched: str | None = None
        for name, stored in self._hashes:
            # No early exit: every stored hash is compared so timing does not depend on which one matches.
            if hmac.compare_digest(digest, stored) and matched is None:
                matched = name
        return matched

    def _maybe_refresh(self) -> None:
        if time.monotonic() >= self._next_check:
            self._refresh(force=False)

    def _refresh(self, *, force: bool) -> None:
        with self._lock:
            self._next_check = time.monotonic() + self._refresh_seconds
            stamp = self._stat()
            if not force and stamp == self._file_stamp:
                return
            try:
                records = read_keys_file(self._keys_file) if self._keys_file is not None else []
            except ConfigError:
                if force:
                    raise
                # A half-edited file must not lock everyone out: keep the previous keys and say so.
                logger.exception("API keys file unreadable; keeping the previously loaded keys")
                return
            hashes = dict(self._env_hashes)
            hashes.update({r.name: r.sha256 for r in records if r.active})
            self._hashes = tuple((name, digest.encode("ascii")) for name, digest in sorted(hashes.items()))
            self._file_stamp = stamp
            if not force:
                logger.info("API keys reloaded: %d active", len(self._hashes))

    def _stat(self) -> tuple[int, int] | None:
        if self._keys_file is None:
            return None
        try:
            st = self._keys_file.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)


def _now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()
