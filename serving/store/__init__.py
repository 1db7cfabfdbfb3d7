"""Prediction log: SQLAlchemy tables, packaged alembic migrations, the store and its background writer."""

from leadscore.serving.store.store import OutcomeRecord, OutcomeUpsertResult, PredictionRow, PredictionStore
from leadscore.serving.store.writer import PredictionWriter

__all__ = [
    "OutcomeRecord",
    "OutcomeUpsertResult",
    "PredictionRow",
    "PredictionStore",
    "PredictionWriter",
]
