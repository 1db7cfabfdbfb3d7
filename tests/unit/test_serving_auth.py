"""API keys: hashing, the keys file, constant-time matching against every hash, revocation and the CLI."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from pathlib import Path

import pytest

from leadscore.cli.main import main as leadscore_main
from leadscore.core.errors import ConfigError
from leadscore.serving import auth
from leadscore.serving.auth import ApiKeyAuthenticator, create_key, hash_key, read_keys_file, revoke_key


def test_hash_is_sha256_hex_of_the_key() -> None:
    assert hash_key("lsk_abc") == hashlib.sha256(b"lsk_abc").hexdigest()


def test_created_key_authenticates_by_name_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key = create_key(path, "crm")
    assert key.startswith("lsk_")
    assert len(key) > 40
    text = path.read_text()
    assert key not in text
    assert hash_key(key) in text
    assert os.stat(path).st_mode & 0o077 == 0  # owner-only
    authenticator = ApiKeyAuthenticator(path, {})
    assert authenticator.authenticate(key) == "crm"
    assert authenticator.authenticate(key + "x") is None
    assert authenticator.authenticate("") is None
    assert authenticator.authenticate(None) is None


def test_env_hashes_and_file_keys_both_authenticate(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    file_key = create_key(path, "crm")
    authenticator = ApiKeyAuthenticator(path, {"ops": hash_key("ops-secret")})
    assert authenticator.authenticate(file_key) == "crm"
    assert authenticator.authenticate("ops-secret") == "ops"
    assert sorted(authenticator.key_names) == ["crm", "ops"]


def test_every_stored_hash_is_compared_even_after_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(b)
        return real(a, b)

    hashes = {f"k{i}": hash_key(f"secret-{i}") for i in range(5)}
    authenticator = ApiKeyAuthenticator(None, hashes)
    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    assert authenticator.authenticate("secret-0") == "k0"  # the first stored hash matches...
    assert len(calls) == 5  # ...and the other four are still compared: no early exit
    calls.clear()
    assert authenticator.authenticate("wrong") is None
    assert len(calls) == 5


def test_revoked_key_is_refused_by_a_running_authenticator_after_refresh(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key = create_key(path, "crm")
    other = create_key(path, "ops")
    authenticator = ApiKeyAuthenticator(path, {}, refresh_seconds=0.1)
    assert authenticator.authenticate(key) == "crm"
    revoke_key(path, "crm")
    time.sleep(0.15)
    assert authenticator.authenticate(key) is None
    assert authenticator.authenticate(other) == "ops"
    records = {r.name: r for r in read_keys_file(path)}
    assert records["crm"].revoked_at is not None  # kept for the audit trail
    assert records["ops"].revoked_at is None


def test_duplicate_active_name_and_unknown_revoke_are_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    create_key(path, "crm")
    with pytest.raises(ConfigError, match="already exists"):
        create_key(path, "crm")
    with pytest.raises(ConfigError, match="no active key"):
        revoke_key(path, "nobody")
    revoke_key(path, "crm")
    create_key(path, "crm")  # a revoked name can be reused
    assert [r.active for r in read_keys_file(path)] == [False, True]


def test_corrupt_keys_file_is_a_readable_error(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot be read"):
        ApiKeyAuthenticator(path, {})
    path.write_text(json.dumps({"something": "else"}))
    with pytest.raises(ConfigError, match="format"):
        read_keys_file(path)


def test_keys_cli_create_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "keys.json"
    assert leadscore_main(["keys", "--file", str(path), "create", "crm"]) == 0
    key = capsys.readouterr().out.strip()
    assert ApiKeyAuthenticator(path, {}).authenticate(key) == "crm"
    assert leadscore_main(["keys", "--file", str(path), "list"]) == 0
    listing = capsys.readouterr().out
    assert "crm" in listing
    assert "active" in listing
    assert key not in listing
    assert hash_key(key) not in listing
    assert leadscore_main(["keys", "--file", str(path), "revoke", "crm"]) == 0
    assert ApiKeyAuthenticator(path, {}).authenticate(key) is None
    assert leadscore_main(["keys", "--file", str(path), "revoke", "crm"]) == 2
    assert "no active key" in capsys.readouterr().err
    assert leadscore_main(["keys", "--file", str(path), "create", "bad name!"]) == 2


def test_keys_cli_uses_the_environment_file_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "env-keys.json"
    monkeypatch.setenv("LEADSCORE_API_KEYS_FILE", str(path))
    assert leadscore_main(["keys", "create", "ops"]) == 0
    key = capsys.readouterr().out.strip()
    assert ApiKeyAuthenticator(path, {}).authenticate(key) == "ops"
