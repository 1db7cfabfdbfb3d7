"""Alembic environment for the prediction log, driven programmatically by ``store.db.run_migrations``.

The caller hands over an open connection in ``config.attributes["connection"]``; logging is left to the entry
point (no fileConfig), and the version table has its own name so that the log can share a database with
MLflow.
"""

from __future__ import annotations

from alembic import context

from leadscore.serving.store.db import VERSION_TABLE
from leadscore.serving.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable from the alembic command line
    raise RuntimeError("run migrations through leadscore.serving.store.db.run_migrations(engine)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds tables instead
)
with context.begin_transaction():
    context.run_migrations()
