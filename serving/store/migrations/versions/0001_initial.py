"""Prediction log, outcomes and feature layouts.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the predictions and outcomes tables."""
    op.create_table(
        "predictions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("lead_id", sa.String(128), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("features_hash", sa.String(64), nullable=True),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("api_key_name", sa.String(64), nullable=True),
        sa.Column("features", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_predictions"),
    )
    op.create_index("ix_predictions_lead_id_scored_at", "predictions", ["lead_id", "scored_at"])
    op.create_index("ix_predictions_scored_at", "predictions", ["scored_at"])
    op.create_index("ix_predictions_model_version_scored_at", "predictions", ["model_version", "scored_at"])
    op.create_table(
        "outcomes",
        sa.Column("lead_id", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=False), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", name="pk_outcomes"),
        sa.CheckConstraint("outcome IN ('won', 'lost')", name="ck_outcomes_outcome_won_lost"),
    )
    op.create_table(
        "feature_layouts",
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("names", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.PrimaryKeyConstraint("model_version", name="pk_feature_layouts"),
    )


def downgrade() -> None:
    """Drop the tables."""
    op.drop_table("feature_layouts")
    op.drop_table("outcomes")
    op.drop_index("ix_predictions_model_version_scored_at", table_name="predictions")
    op.drop_index("ix_predictions_scored_at", table_name="predictions")
    op.drop_index("ix_predictions_lead_id_scored_at", table_name="predictions")
    op.drop_table("predictions")
