"""ServingSettings: environment parsing, range checks and one readable error line (exit 2 at the CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from leadscore.core.errors import ConfigError
from leadscore.serving.auth import hash_key
from leadscore.serving.settings import ServingSettings, load_settings, parse_key_pairs


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    path = tmp_path / "bundle"
    path.mkdir()
    return path


def test_settings_read_prefixed_environment(monkeypatch: pytest.MonkeyPatch, bundle_dir: Path) -> None:
    monkeypatch.setenv("LEADSCORE_MODEL_URI", str(bundle_dir))
    monkeypatch.setenv("LEADSCORE_MAX_BATCH_SIZE", "25")
    monkeypatch.setenv("LEADSCORE_PORT", "9123")
    monkeypatch.setenv("LEADSCORE_API_KEYS", f"crm:{hash_key('k1')}, ops:{hash_key('k2')}")
    settings = load_settings()
    assert settings.model_uri == str(bundle_dir)
    assert settings.max_batch_size == 25
    assert settings.port == 9123
    assert settings.host == "127.0.0.1"
    assert settings.env_key_hashes == {"crm": hash_key("k1"), "ops": hash_key("k2")}


def test_registry_uri_is_accepted_without_checking_the_filesystem() -> None:
    settings = ServingSettings(model_uri="models:/lead_scorer@champion")
    assert settings.model_uri == "models:/lead_scorer@champion"


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("LEADSCORE_MAX_BATCH_SIZE", "0", "LEADSCORE_MAX_BATCH_SIZE"),
        ("LEADSCORE_MAX_BATCH_SIZE", "lots", "LEADSCORE_MAX_BATCH_SIZE"),
        ("LEADSCORE_PORT", "70000", "LEADSCORE_PORT"),
        ("LEADSCORE_DATABASE_URL", "mysql://db/x", "not supported"),
        ("LEADSCORE_DATABASE_URL", "::nonsense", "LEADSCORE_DATABASE_URL"),
        ("LEADSCORE_MODEL_URI", "/no/such/bundle", "does not exist"),
        ("LEADSCORE_API_KEYS", "crm:not-a-hash", "LEADSCORE_API_KEYS"),
        ("LEADSCORE_RELOAD_POLL_SECONDS", "-1", "LEADSCORE_RELOAD_POLL_SECONDS"),
    ],
)
def test_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: str
) -> None:
    monkeypatch.setenv("LEADSCORE_MODEL_URI", "models:/lead_scorer@champion")
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    if env == "LEADSCORE_API_KEYS":
        assert value not in message  # key material is never echoed


def test_key_pairs_reject_malformed_entries_without_echoing_them() -> None:
    with pytest.raises(ValueError, match="entry 2") as info:
        parse_key_pairs(f"a:{hash_key('x')},secret-key-pasted-by-mistake")
    assert "secret-key-pasted" not in str(info.value)
    assert parse_key_pairs("") == {}


def test_serve_command_exits_2_with_one_line_on_a_bad_setting(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "LEADSCORE_MAX_BODY_BYTES": "12", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "leadscore.cli", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "LEADSCORE_MAX_BODY_BYTES" in lines[0]
    assert "Traceback" not in proc.stderr


def test_unreachable_database_is_one_config_line_without_the_password() -> None:
    from leadscore.cli.serve import prepare_database

    with pytest.raises(ConfigError) as info:
        prepare_database("postgresql+psycopg://app:s3cret@127.0.0.1:1/nowhere?connect_timeout=2")
    message = str(info.value)
    assert "cannot open the prediction log" in message
    assert "s3cret" not in message
    assert "\n" not in message
