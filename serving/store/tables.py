"""Table definitions of the prediction log (SQLAlchemy Core: the writer inserts thousands of rows a second).

Nothing here holds PII: leads are identified by the CRM's lead id, callers by their API key *name*, and the
stored feature values are the model's raw inputs with contact fields already removed.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

# Deterministic constraint names keep migrations reproducible on SQLite and PostgreSQL alike.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# All timestamps are naive UTC, like the canonical data; the API converts at the edge.
predictions = Table(
    "predictions",
    metadata,
    # SQLite only auto-increments an INTEGER PRIMARY KEY, so BIGINT is used on other databases only.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("lead_id", String(128), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("features_hash", String(64), nullable=True),
    Column("probability", Float, nullable=False),
    Column("score", SmallInteger, nullable=False),
    Column("band", String(16), nullable=False),
    Column("scored_at", DateTime(timezone=False), nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("api_key_name", String(64), nullable=True),
    # The raw feature values the model saw, as a JSON array in the order of feature_layouts.names for this
    # model version (or, should a row ever not match that layout, a JSON object), so drift can run in batch.
    Column("features", Text, nullable=True),
    Index(None, "lead_id", "scored_at"),
    Index(None, "scored_at"),
    Index(None, "model_version", "scored_at"),
)

outcomes = Table(
    "outcomes",
    metadata,
    Column("lead_id", String(128), primary_key=True),
    Column("outcome", String(8), nullable=False),
    Column("closed_at", DateTime(timezone=False), nullable=False),
    Column("received_at", DateTime(timezone=False), nullable=False),
    CheckConstraint("outcome IN ('won', 'lost')", name="outcome_won_lost"),
)

# Names of the values in predictions.features, once per model version: rows store bare values (about a third
# of the size of an object with 45 keys), and drift decodes tens of thousands of rows in one json.loads.
feature_layouts = Table(
    "feature_layouts",
    metadata,
    Column("model_version", String(64), primary_key=True),
    Column("names", Text, nullable=False),
    Column("created_at", DateTime(timezone=False), nullable=False),
)
