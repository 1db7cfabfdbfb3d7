"""The raw feature values of each logged prediction, computed in the writer thread (off the request path).

Drift is measured on the same raw features as the bundle's reference window, so every prediction row keeps
them as compact JSON. ``bundle.score_records`` does not return them, and computing them per request would
double the feature work on the hot path; instead the scored records wait in the writer's queue and are
featurised here in batches of hundreds with the one feature path (``features.build.build_features``), which
costs a fraction of a per-lead call. Records never hold contact data (the API drops it before scoring).
"""

from __future__ import annotations

import logging
from collections.abc import Sized
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from features.build import build_features, leads_from_records
from features.intent import activity_columns
from leadscore import schema
from serving.store import PredictionRow
from serving.store.writer import flatten_rows

if TYPE_CHECKING:
    from models.bundle import ScoringBundle

logger = logging.getLogger(__name__)


@dataclass
class ScoredLeads:
    """The log rows of one scoring call plus what is needed to recompute the model's raw features.

    Attributes:
        bundle: the exact bundle object that scored the rows (a reload cannot change their features).
        records: the canonical records sent to ``score_records`` (no PII).
        activities: the activity dicts sent with them, or None when intent came pre-aggregated.
        rows: one log row per record, ``features`` still None.
    """

    bundle: ScoringBundle
    records: list[dict[str, Any]]
    activities: list[dict[str, Any]] | None
    rows: list[PredictionRow]

    def __len__(self) -> int:
        """Rows to write."""
        return len(self.rows)


def prepare_rows(items: list[Sized]) -> list[PredictionRow]:
    """Writer hook: fill in ``features`` for queued ScoredLeads, batching calls that share a bundle.

    Items scored by the same bundle in the same mode (activities vs pre-aggregated intent) are featurised in
    one call. When two queued requests carry the same lead id, ids are made unique per request first, so the
    two requests cannot pool their activities.
    """
    groups: dict[tuple[int, bool], list[ScoredLeads]] = {}
    plain: list[Sized] = []
    for item in items:
        if isinstance(item, ScoredLeads):
            groups.setdefault((id(item.bundle), item.activities is None), []).append(item)
        else:
            plain.append(item)
    rows = flatten_rows(plain)
    for group in groups.values():
        try:
            _attach_features(group)
        except Exception:  # the score is logged regardless; drift just misses these rows
            logger.exception("could not compute logged feature values for %d rows", sum(map(len, group)))
        for item in group:
            rows.extend(item.rows)
    return rows


def _attach_features(group: list[ScoredLeads]) -> None:
    bundle = group[0].bundle
    intent_mode = group[0].activities is None
    records = [record for item in group for record in item.records]
    activities = [activity for item in group for activity in item.activities or ()]
    ids = [record[schema.LEAD_ID] for record in records]
    if len(set(ids)) < len(ids) and len(group) > 1:
        # The same lead in two queued requests: give each request its own ids so their events stay apart.
        records = [
            {**r, schema.LEAD_ID: f"{n}:{r[schema.LEAD_ID]}"} for n, i in enumerate(group) for r in i.records
        ]
        activities = [
            {**a, schema.ACTIVITY_LEAD_ID: f"{n}:{a[schema.ACTIVITY_LEAD_ID]}"}
            for n, item in enumerate(group)
            for a in item.activities or ()
        ]
    batch = build_features(
        leads_from_records(records, bundle.spec),
        bundle.spec,
        None if intent_mode else activity_columns(activities),
    )
    names = list(batch.features)
    values = zip(*(_plain_values(batch.features[name]) for name in names), strict=True)
    for row, row_values in zip((row for item in group for row in item.rows), values, strict=True):
        row["features"] = dict(zip(names, row_values, strict=True))


def _plain_values(column: np.ndarray) -> list[Any]:
    """Python values of one feature column, NaN as None (JSON has no NaN)."""
    if column.dtype.kind == "f":
        missing = np.isnan(column)
        if missing.any():
            values = column.astype(object)
            values[missing] = None
            return values.tolist()  # type: ignore[no-any-return]
    return column.tolist()  # type: ignore[no-any-return]
