"""The one feature path: canonical leads (+ activity log) -> raw feature columns, for training, batch and API.

``featurize`` (training), ``ScoringBundle.score`` (batch) and ``ScoringBundle.score_records`` (API) all end in
``build_features``; only the container conversion in front of it differs (``leads_from_frame`` /
``leads_from_records``), and both conversions share the same value normalisers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadscore.core import canonical
from leadscore.core.errors import SchemaError
from leadscore.features import bant, firmographic
from leadscore.features.columns import (
    NAT,
    NS_PER_DAY,
    Columns,
    frame_columns,
    lead_ids,
    record_columns,
    require,
    scalar_to_nanoseconds,
    to_category,
    to_nanoseconds,
    to_numeric,
)
from leadscore.features.intent import ActivityColumns, intent_from_aggregates, intent_from_events
from leadscore.features.spec import AS_OF_COLUMN, FeatureSpec, extra_feature_name

logger = logging.getLogger(__name__)

NUMERIC_INPUTS = frozenset(canonical.NUMERIC_ROLES)


@dataclass(frozen=True)
class FeatureBatch:
    """Raw (untransformed) features of a batch of leads.

    Attributes:
        lead_id: lead ids (str), one per row.
        as_of_ns: scoring moment per lead (int64 ns), or None when the spec has no time (no created_at).
        features: feature name -> values (categorical: object str/None; numeric: float64 with NaN).
        inputs: the normalised input columns the features came from (kept for reason values).
    """

    lead_id: np.ndarray
    as_of_ns: np.ndarray | None
    features: Columns
    inputs: Columns

    def __len__(self) -> int:
        """Number of leads."""
        return len(self.lead_id)

    def to_frame(self, index: pd.Index | None = None) -> pd.DataFrame:
        """Raw features as a DataFrame (lead_id, as_of, features), for data/processed and the reference."""
        data: dict[str, Any] = {canonical.LEAD_ID: self.lead_id}
        if self.as_of_ns is not None:
            data[AS_OF_COLUMN] = self.as_of_ns.view("datetime64[ns]")
        data.update(self.features)
        return pd.DataFrame(data, index=index)


def needed_columns(spec: FeatureSpec) -> list[str]:
    """Every leads column the spec may read (required or optional)."""
    return [
        canonical.LEAD_ID,
        canonical.CREATED_AT,
        AS_OF_COLUMN,
        *spec.input_columns,
        *spec.intent_feature_names,
    ]


def leads_from_frame(leads: pd.DataFrame, spec: FeatureSpec) -> dict[str, Any]:
    """Pick the spec's columns from a canonical leads DataFrame (one conversion per column)."""
    if not isinstance(leads, pd.DataFrame):
        raise SchemaError(f"leads must be a pandas DataFrame, got {type(leads).__name__}")
    return frame_columns(leads, needed_columns(spec))


def leads_from_records(records: Sequence[Mapping[str, Any]], spec: FeatureSpec) -> dict[str, Any]:
    """Pick the spec's columns from request dicts (the API route; same normalisers as the frame route)."""
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise SchemaError(f"lead record {i} must be an object, got {type(record).__name__}")
    return record_columns(records, needed_columns(spec))


def resolve_as_of(raw: Mapping[str, Any], spec: FeatureSpec, n: int, as_of: Any = None) -> np.ndarray | None:
    """The scoring moment of each lead (int64 ns).

    Precedence: the ``as_of`` argument (one moment for all leads), else a per-lead ``as_of`` column where
    it is filled, else ``created_at + as_of_offset_days`` (the moment training rows were featurised at).
    """
    if not spec.has_created_at:
        return None
    if as_of is not None:
        return np.full(n, scalar_to_nanoseconds(as_of), dtype=np.int64)
    out = (
        to_nanoseconds(raw[AS_OF_COLUMN], AS_OF_COLUMN) if AS_OF_COLUMN in raw else np.full(n, NAT, np.int64)
    )
    todo = out == NAT
    if todo.any():
        require(raw, [canonical.CREATED_AT])
        created = to_nanoseconds(raw[canonical.CREATED_AT], canonical.CREATED_AT)
        if (created[todo] == NAT).any():
            row = int(np.flatnonzero(todo & (created == NAT))[0])
            which = (
                f"lead {str(np.asarray(raw[canonical.LEAD_ID])[row])!r}"
                if canonical.LEAD_ID in raw
                else f"row {row}"
            )
            raise SchemaError(
                f"column {canonical.CREATED_AT!r} is missing for {which} (and no as_of was given)"
            )
        out = np.where(todo, created + spec.as_of_offset_days * NS_PER_DAY, out)
    return out


def normalise_inputs(raw: Mapping[str, Any], spec: FeatureSpec) -> Columns:
    """Typed input columns (categorical -> str/None, numeric -> float64); SchemaError names a bad column."""
    require(raw, [canonical.LEAD_ID, *spec.input_columns])
    out: Columns = {}
    for column in (*spec.roles, *spec.extra_categorical, *spec.extra_numeric):
        values = raw[column]
        if column in NUMERIC_INPUTS or column in spec.extra_numeric:
            out[column] = to_numeric(values, column)
        else:
            if getattr(values, "dtype", None) is not None and values.dtype.kind == "M":
                raise SchemaError(f"column {column!r} must be text, got date-times")
            out[column] = to_category(values)
    return out


def build_features(
    raw: Mapping[str, Any],
    spec: FeatureSpec,
    activities: ActivityColumns | None = None,
    as_of: Any = None,
) -> FeatureBatch:
    """Raw feature columns of a batch of leads.

    Args:
        raw: leads columns from ``leads_from_frame`` / ``leads_from_records``.
        spec: the frozen feature spec.
        activities: the activity log; None means intent comes pre-aggregated in ``raw`` (or is absent).
        as_of: one scoring moment for all leads (overrides the per-lead default, see ``resolve_as_of``).

    Returns:
        The batch, features in ``spec.feature_names`` order.
    """
    require(raw, [canonical.LEAD_ID])
    ids = lead_ids(raw[canonical.LEAD_ID])
    n = len(ids)
    inputs = normalise_inputs(raw, spec)
    as_of_ns = resolve_as_of(raw, spec, n, as_of)
    feats: Columns = {}
    roles = set(spec.roles)
    if canonical.INDUSTRY in roles:
        feats["firmo_industry"] = inputs[canonical.INDUSTRY]
    if canonical.EMPLOYEES in roles:
        employees = inputs[canonical.EMPLOYEES]
        feats["firmo_log_employees"] = firmographic.log_employees(employees)
        feats["firmo_size_band"] = firmographic.size_band(employees)
    if canonical.ANNUAL_REVENUE in roles:
        feats["firmo_revenue_band"] = firmographic.revenue_band(inputs[canonical.ANNUAL_REVENUE])
    if canonical.COUNTRY in roles:
        feats["firmo_region"] = firmographic.country_region(inputs[canonical.COUNTRY])
        feats["firmo_country"] = firmographic.country_name(inputs[canonical.COUNTRY])
    if canonical.FOUNDED_YEAR in roles:
        founded = inputs[canonical.FOUNDED_YEAR]
        if as_of_ns is not None:
            feats["firmo_company_age"] = firmographic.company_age(founded, as_of_ns)
        else:
            feats["firmo_founded_year"] = founded
    if canonical.BUDGET in roles:
        feats["bant_budget"] = bant.budget_status(inputs[canonical.BUDGET])
    if canonical.CONTACT_TITLE in roles:
        feats["bant_authority"] = bant.authority_level(inputs[canonical.CONTACT_TITLE])
    if canonical.NEED in roles:
        feats["bant_need"] = bant.need(inputs[canonical.NEED])
    if canonical.TIMELINE in roles:
        feats["bant_timeframe"] = bant.timeframe_stage(inputs[canonical.TIMELINE])
    if canonical.LEAD_SOURCE in roles:
        feats["acq_lead_source"] = inputs[canonical.LEAD_SOURCE]
    for column in (*spec.extra_categorical, *spec.extra_numeric):
        feats[extra_feature_name(column)] = inputs[column]
    if spec.has_intent and as_of_ns is not None:  # has_intent implies has_created_at, hence an as_of
        if activities is not None:
            feats.update(intent_from_events(ids, as_of_ns, activities, spec))
        else:
            if not any(name in raw for name in spec.intent_feature_names):
                logger.debug("no activity log and no intent columns: scoring %d leads as without activity", n)
            feats.update(intent_from_aggregates(raw, spec, n))
    ordered = {name: feats[name] for name in spec.feature_names}
    return FeatureBatch(lead_id=ids, as_of_ns=as_of_ns, features=ordered, inputs=inputs)
