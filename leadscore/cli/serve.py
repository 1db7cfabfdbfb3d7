"""``leadscore serve``: validate the settings, then run the API under uvicorn (127.0.0.1 by default).

Settings come from ``LEADSCORE_*`` environment variables; the few flags here override them for one run. A bad
value stops the command with one line and exit code 2 before anything is loaded or bound.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from leadscore.core.errors import ConfigError
from leadscore.serving.settings import ENV_PREFIX, load_settings

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``serve`` options (each overrides the LEADSCORE_* variable of the same name)."""
    parser.add_argument("--host", help="bind address (LEADSCORE_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (LEADSCORE_PORT, default 8000)")
    parser.add_argument(
        "--model", dest="model_uri", help="models:/NAME@ALIAS or bundle dir (LEADSCORE_MODEL_URI)"
    )
    parser.add_argument("--database-url", help="prediction log SQLAlchemy URL (LEADSCORE_DATABASE_URL)")
    parser.add_argument("--workers", type=int, help="worker processes (LEADSCORE_WORKERS, default 1)")


def run(args: argparse.Namespace) -> int:
    """Start the server; returns when it stops."""
    import uvicorn

    from leadscore.serving.http_protocol import CoalescingHttpToolsProtocol
    from leadscore.serving.listeners import reserve

    overrides = {
        name: value
        for name in ("host", "port", "model_uri", "database_url", "workers")
        if (value := getattr(args, name, None)) is not None
    }
    settings = load_settings(**overrides)  # ConfigError -> one line, exit 2 (leadscore.cli)
    # Migrate once here, before any worker starts: a bad or unreachable database fails now with one line, and
    # several workers never race to create the same tables.
    prepare_database(settings.database_url)
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "access_log": settings.access_log,
        "log_level": settings.log_level,
        "log_config": None,  # keep the logging leadscore.cli configured
        "timeout_graceful_shutdown": 30,
        "server_header": False,
        # Response head and body in one write (see leadscore.serving.http_protocol).
        "http": CoalescingHttpToolsProtocol,
    }
    logger.info(
        "serving %s on http://%s:%d (prediction log: %s)",
        settings.model_uri,
        settings.host,
        settings.port,
        _redacted(settings.database_url),
    )
    if settings.workers == 1:
        from leadscore.serving.app import create_app

        uvicorn.run(create_app(settings), **common)
        return 0
    # Each worker process builds its own app from the environment, so the overrides travel through it.
    for name, value in overrides.items():
        os.environ[ENV_PREFIX + name.upper()] = str(value)
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "leadscore.serving.app:app_from_environment", factory=True, workers=settings.workers, **common
    )
    # One SO_REUSEPORT socket per worker instead of uvicorn's shared one (see leadscore.serving.listeners).
    try:
        reserved, listener = reserve(settings.host, settings.port)
    except OSError as exc:
        reason = exc.strerror or exc
        raise ConfigError(f"cannot listen on {settings.host}:{settings.port}: {reason}") from None
    with reserved:
        Multiprocess(config, sockets=[listener]).run()  # type: ignore[list-item]
    return 0


def prepare_database(url: str) -> None:
    """Open the prediction log (running its migrations) and close it again.

    Raises:
        ConfigError: the database cannot be reached or migrated (the message never shows a password).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from leadscore.serving.store import PredictionStore

    try:
        PredictionStore.open(url).close()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ConfigError(f"cannot open the prediction log at {_redacted(url)}: {reason}") from None


def _redacted(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)
