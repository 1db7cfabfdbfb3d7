"""Runtime settings of the scoring service, read from ``LEADSCORE_*`` environment variables.

Serving never reads params.yaml: what changes an artifact lives there, what changes a running process lives
here. Every value is validated when the settings object is built, so that ``leadscore serve`` stops with one
readable line (exit 2) instead of failing on the first request.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from leadscore.core.errors import ConfigError
from leadscore.core.params import DEFAULT_MODEL_URI, DEFAULT_TRACKING_URI

ENV_PREFIX = "LEADSCORE_"
# Registry URIs go to MLflow; anything else must be a bundle directory on disk.
REGISTRY_URI_PREFIXES = ("models:/", "runs:/")
KEY_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def parse_key_pairs(raw: str) -> dict[str, str]:
    """Parse ``name:sha256,name2:sha256`` (the LEADSCORE_API_KEYS format) into ``{name: hash}``.

    Raises:
        ValueError: naming the malformed entry by position (never echoing it: it may be pasted secret
        material).
    """
    pairs: dict[str, str] = {}
    for position, item in enumerate(part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, sep, digest = item.partition(":")
        digest = digest.strip().lower()
        if not sep or not KEY_NAME_PATTERN.match(name.strip()) or not _SHA256_HEX.match(digest):
            raise ValueError(
                f"entry {position + 1} is not NAME:SHA256 (name of letters, digits, '_', '.', '-'; "
                "64 hex digits; create one with `leadscore keys create NAME`)"
            )
        pairs[name.strip()] = digest
    return pairs


class KeysFileSettings(BaseSettings):
    """The one setting the ``leadscore keys`` command shares with the service: where the key hashes live."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # Relative to the working directory; keep it out of git (it holds hashes only, but names are still
    # inventory).
    api_keys_file: Path = Path(".leadscore/api_keys.json")


class ServingSettings(KeysFileSettings):
    """Everything ``leadscore serve`` and ``create_app`` need, typed and range-checked."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, protected_namespaces=()
    )

    # "models:/lead_scorer@champion" (MLflow registry alias, polled for moves) or a bundle directory.
    model_uri: str = DEFAULT_MODEL_URI
    # The registry section's default (serving never reads params.yaml; the constant is shared instead).
    tracking_uri: str = DEFAULT_TRACKING_URI
    database_url: str = "sqlite:///leadscore-predictions.db"
    # Extra keys from the environment (for containers without a writable keys file): "name:sha256,...".
    api_keys: str = ""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # Worker processes. Leads are scored on a worker's event loop (~0.25-0.45 ms of CPU per request with the
    # HTTP handling), so a worker uses about one core: set it to the number of cores for throughput (2 on 2
    # cores: ~1.4x the requests/s of one worker at 8 concurrent clients, benchmarks/service.py). Each worker
    # loads its own copy of the bundle and listens on its own SO_REUSEPORT socket
    # (leadscore.serving.listeners).
    workers: int = Field(1, ge=1, le=64)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Access logs cost ~15 % of throughput at 1k req/s; enable them when a proxy does not already log.
    access_log: bool = False
    # /docs, /redoc and /openapi.json without a key. Off by default: every non-health route needs a key.
    public_docs: bool = False

    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    max_batch_size: int = Field(1000, ge=1, le=100_000)
    top_reasons: int = Field(3, ge=0, le=10)
    # Seconds between registry checks for a moved alias; 0 turns polling off (reload by POST
    # /v1/model/reload).
    reload_poll_seconds: float = Field(30.0, ge=0.0, le=86_400.0)
    # Revoking a key in the keys file takes effect within this many seconds, without a restart.
    keys_refresh_seconds: float = Field(2.0, ge=0.1, le=3600.0)

    # Prediction log writer: rows are inserted in batches off the request path.
    log_batch_size: int = Field(500, ge=1, le=50_000)
    log_flush_seconds: float = Field(0.25, gt=0.0, le=60.0)
    log_queue_max: int = Field(200_000, ge=100)
    # Drift is computed on demand over at most this many of the newest predictions in the range.
    drift_max_rows: int = Field(50_000, ge=100, le=2_000_000)
    # Below these counts the endpoints answer "not enough ..." instead of noise (or NaN).
    drift_min_rows: int = Field(50, ge=1)
    accuracy_min_outcomes: int = Field(30, ge=2)
    # Monte-Carlo draws behind the "expected if calibrated" ranges (0 turns them off).
    cbpe_simulations: int = Field(200, ge=0, le=10_000)

    @field_validator("model_uri")
    @classmethod
    def _model_uri_exists(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must be a registry URI (models:/NAME@ALIAS) or a bundle directory")
        if not value.startswith(REGISTRY_URI_PREFIXES) and not Path(value).is_dir():
            raise ValueError(f"bundle directory {value!r} does not exist (or use models:/NAME@ALIAS)")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_supported(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("is not a SQLAlchemy URL (e.g. sqlite:///predictions.db)") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"backend {url.get_backend_name()!r} is not supported (sqlite or postgresql)")
        return value

    @field_validator("api_keys")
    @classmethod
    def _api_keys_well_formed(cls, value: str) -> str:
        parse_key_pairs(value)
        return value

    @property
    def env_key_hashes(self) -> dict[str, str]:
        """Key name -> SHA-256 hex digest from LEADSCORE_API_KEYS."""
        return parse_key_pairs(self.api_keys)


def describe_validation_error(exc: ValidationError) -> str:
    """Turn pydantic's report into one line naming the environment variables (values are never echoed)."""
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in err["loc"]) or "settings"
        message = err["msg"].removeprefix("Value error, ")
        problems.append(f"{ENV_PREFIX}{field.upper()}: {message}")
    return "invalid settings: " + "; ".join(problems)


def load_settings(**overrides: object) -> ServingSettings:
    """Build settings from the environment (plus explicit overrides), raising ConfigError with one line.

    Only entry points call this; ``create_app`` receives the finished object.
    """
    try:
        return ServingSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
