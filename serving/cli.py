"""``leadscore serve``: validate the settings, then run the API under uvicorn (127.0.0.1 by default).

Settings come from ``LEADSCORE_*`` environment variables; the few flags here override them for one run. A bad
value stops the command with one line and exit code 2 before anything is loaded or bound.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
from typing import Any

from leadscore.errors import ConfigError
from serving.settings import ENV_PREFIX, load_settings

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
    }
    logger.info(
        "serving %s on http://%s:%d (prediction log: %s)",
        settings.model_uri,
        settings.host,
        settings.port,
        _redacted(settings.database_url),
    )
    if settings.workers == 1:
        from serving.app import create_app

        uvicorn.run(create_app(settings), **common)
        return 0
    # Each worker process builds its own app from the environment, so the overrides travel through it.
    for name, value in overrides.items():
        os.environ[ENV_PREFIX + name.upper()] = str(value)
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "serving.app:app_from_environment", factory=True, workers=settings.workers, **common
    )
    sock = config.bind_socket()
    # uvicorn.run would bind this shared socket without IPPROTO_TCP, so asyncio never turns on TCP_NODELAY for
    # the workers' connections and a response written in two parts waits ~40 ms for a delayed ACK. Linux
    # copies the option from the listening socket to accepted ones, hence setting it here.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()
    return 0


def prepare_database(url: str) -> None:
    """Open the prediction log (running its migrations) and close it again.

    Raises:
        ConfigError: the database cannot be reached or migrated (the message never shows a password).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from serving.store import PredictionStore

    try:
        PredictionStore.open(url).close()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ConfigError(f"cannot open the prediction log at {_redacted(url)}: {reason}") from None


def _redacted(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)
