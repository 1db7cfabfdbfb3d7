"""Scored leads for the quarterly report from the service's prediction log joined with the CRM's outcomes.

One row per lead: its latest score made no later than its close (a score made after the close could have seen
the outcome coming, the same rule as the accuracy endpoint), or its latest score if it is still open. The
stored feature values come along, so the report gets its segments (industry, source, region, size band) and
feature drift from the same numbers the model saw. The log holds no PII and no creation time, so maturity
counts from the scoring time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, or_, select
from sqlalchemy.engine import Engine

from leadscore import schema
from leadscore.reporting.quarterly import BAND, IS_MQL, IS_SQL, PROBABILITY, SCORED_AT
from leadscore.reporting.segments import add_segments

MODEL_VERSION = "model_version"


def qualification(band: pd.Series, names: Sequence[str], mql_band: str, sql_band: str) -> pd.DataFrame:
    """is_mql / is_sql from the logged band (names best first), as the bundle derived them when scoring."""
    order = {name: i for i, name in enumerate(names)}
    codes = band.astype("string").map(order).astype("float64")
    return pd.DataFrame(
        {IS_MQL: (codes <= order[mql_band]).to_numpy(), IS_SQL: (codes <= order[sql_band]).to_numpy()},
        index=band.index,
    )


def _decode_features(raw: pd.Series, versions: pd.Series, layouts: dict[str, list[str]]) -> pd.DataFrame:
    """Feature values stored as JSON arrays (named by the version's layout) or objects, one row per entry."""
    records: list[dict[str, Any]] = []
    for text, version in zip(raw, versions, strict=True):
        if not text:
            records.append({})
            continue
        value = json.loads(text)
        names = layouts.get(version)
        if isinstance(value, list) and names is not None and len(names) == len(value):
            records.append(dict(zip(names, value, strict=True)))
        else:
            records.append(value if isinstance(value, dict) else {})
    return pd.DataFrame.from_records(records, index=raw.index)


def scored_from_prediction_log(
    engine: Engine,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    band_names: Sequence[str] = ("A", "B", "C", "D"),
    mql_band: str = "B",
    sql_band: str = "A",
) -> pd.DataFrame:
    """The report's input frame from a prediction log (serving.store schema), scores in ``[start, end)``.

    Returns:
        lead_id, model_version, probability, score, band, scored_at, is_mql, is_sql, outcome, closed_at,
        the stored feature values and the segment columns; empty when nothing was scored in the window.
    """
    from serving.store.tables import feature_layouts, outcomes, predictions

    p, o = predictions.c, outcomes.c
    rank = func.row_number().over(partition_by=p.lead_id, order_by=(p.scored_at.desc(), p.id.desc()))
    clauses = [or_(o.lead_id.is_(None), p.scored_at <= o.closed_at)]
    if start is not None:
        clauses.append(p.scored_at >= start)
    if end is not None:
        clauses.append(p.scored_at < end)
    ranked = (
        select(
            p.lead_id,
            p.model_version,
            p.probability,
            p.score,
            p.band,
            p.scored_at,
            p.features,
            o.outcome,
            o.closed_at,
            rank.label("rank"),
        )
        .outerjoin(outcomes, o.lead_id == p.lead_id)
        .where(*clauses)
        .subquery("ranked")
    )
    query = select(*[c for c in ranked.c if c.name != "rank"]).where(ranked.c.rank == 1)
    with engine.connect() as conn:
        result = conn.execute(query)
        frame = pd.DataFrame(result.all(), columns=list(result.keys()))
        layouts = {
            version: json.loads(names)
            for version, names in conn.execute(
                select(feature_layouts.c.model_version, feature_layouts.c.names)
            )
        }
    if frame.empty:
        return frame.drop(columns="features")
    frame[SCORED_AT] = pd.to_datetime(frame[SCORED_AT])
    frame[schema.CLOSED_AT] = pd.to_datetime(frame[schema.CLOSED_AT])
    frame[PROBABILITY] = frame[PROBABILITY].astype(np.float64)
    features = _decode_features(frame.pop("features"), frame[MODEL_VERSION], layouts)
    features = features.drop(columns=[c for c in features.columns if c in frame.columns])
    frame = pd.concat([frame, features], axis=1)
    frame = pd.concat([frame, qualification(frame[BAND], band_names, mql_band, sql_band)], axis=1)
    return add_segments(frame).sort_values(SCORED_AT, kind="stable").reset_index(drop=True)
