"""Engine creation and programmatic migrations of the prediction log (SQLite default, PostgreSQL by URL)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Own name, so the prediction log can share a database with MLflow (which keeps its own alembic_version).
VERSION_TABLE = "leadscore_alembic_version"


def create_store_engine(url: str) -> Engine:
    """Create an engine tuned for a concurrent writer thread plus readers.

    SQLite gets WAL (readers do not block the writer), a busy timeout instead of "database is locked" errors
    and ``synchronous=NORMAL`` (durable at checkpoints, several times faster than FULL). PostgreSQL gets
    pre-ping so a restarted server does not fail the first request after it. Both hide statement parameters
    in exception messages: a failed insert's message would otherwise carry lead ids and feature values into
    the logs.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, hide_parameters=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config() -> Config:
    """Alembic configuration pointing at the migrations shipped inside the package (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def run_migrations(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` (idempotent: a current schema is left alone)."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    logger.info(
        "prediction log schema is at %s (%s)", revision, engine.url.render_as_string(hide_password=True)
    )
