"""Point-in-time intent features from the activity log.

Leakage guard: an activity counts only if it happened strictly before the lead's scoring moment
(``occurred_at < as_of``). Sales-stage and post-sale activity (proposal viewed, contract signed, onboarding)
happens after as_of and is far more frequent for won deals; counting it would make the model look better than
possible in testing and useless in production. This filter is the one place that prevents it.

Everything is vectorised over events with ``np.bincount`` on (lead row, activity type) pairs, so one lead
and a million events go through the same code.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from leadscore.core import canonical
from leadscore.core.errors import SchemaError
from leadscore.features.columns import (
    NAT,
    NS_PER_DAY,
    Columns,
    factorize_category,
    map_unique,
    record_columns,
    require,
    to_category,
    to_nanoseconds,
    to_numeric,
)
from leadscore.features.spec import OTHER, FeatureSpec

logger = logging.getLogger(__name__)

ACTIVITY_COLUMNS = (canonical.ACTIVITY_LEAD_ID, canonical.ACTIVITY_AT, canonical.ACTIVITY_TYPE)
_NON_WORD = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class ActivityColumns:
    """The activity log as factorised columns.

    Lead ids and activity types repeat across events, so they are kept as integer codes into their distinct
    values: mapping 50k distinct lead ids to lead rows is cheap, a million per-event strings would not be.

    Attributes:
        lead_codes: per event, index into ``lead_values`` (-1: missing lead id, ignored).
        lead_values: distinct lead ids (str).
        occurred_ns: per event, int64 ns naive UTC (NaT events are ignored).
        type_codes: per event, index into ``type_values`` (-1: missing type, counted as "other").
        type_values: distinct activity types (str, as given).
    """

    lead_codes: np.ndarray
    lead_values: np.ndarray
    occurred_ns: np.ndarray
    type_codes: np.ndarray
    type_values: np.ndarray

    def __len__(self) -> int:
        """Number of events."""
        return len(self.lead_codes)

    def activity_types(self) -> np.ndarray:
        """Per-event activity type (object array, None when missing)."""
        return np.append(self.type_values, None).astype(object)[self.type_codes]


def activity_columns(activities: pd.DataFrame | Sequence[Mapping[str, Any]] | None) -> ActivityColumns | None:
    """Normalise an activity log given as a DataFrame or as request dicts (None stays None)."""
    if activities is None:
        return None
    cols: Mapping[str, Any]
    if isinstance(activities, pd.DataFrame):
        if activities.empty and not set(ACTIVITY_COLUMNS) <= set(activities.columns):
            cols = {c: np.array([], dtype=object) for c in ACTIVITY_COLUMNS}
        else:
            require(activities.columns, ACTIVITY_COLUMNS, what="activities")
            cols = {c: activities[c] for c in ACTIVITY_COLUMNS}
    elif not activities:
        cols = {c: np.array([], dtype=object) for c in ACTIVITY_COLUMNS}
    else:
        for i, record in enumerate(activities):
            if not isinstance(record, Mapping):
                raise SchemaError(f"activity record {i} must be an object, got {type(record).__name__}")
        cols = record_columns(activities, ACTIVITY_COLUMNS)
        require(cols, ACTIVITY_COLUMNS, what="activities")
    lead_codes, lead_values = factorize_category(cols[canonical.ACTIVITY_LEAD_ID])
    type_codes, type_values = factorize_category(cols[canonical.ACTIVITY_TYPE])
    return ActivityColumns(
        lead_codes=lead_codes,
        lead_values=lead_values,
        occurred_ns=to_nanoseconds(cols[canonical.ACTIVITY_AT], canonical.ACTIVITY_AT),
        type_codes=type_codes,
        type_values=type_values,
    )


@lru_cache(maxsize=4096)  # a pure function of a few distinct strings, called for every scored lead's events
def sanitize_activity_type(value: str | None) -> str:
    """Feature-name-safe activity type: "Demo Request!" -> "demo_request"; blank -> "other"."""
    if value is None:
        return OTHER
    cleaned = _NON_WORD.sub("_", value.lower()).strip("_")
    return cleaned or OTHER


def activity_type_vocabulary(types: np.ndarray, min_count: int, max_types: int | None = None) -> list[str]:
    """Activity types frequent enough to get their own features (most frequent first, ties by name).

    Args:
        types: activity types of the training events that count (already filtered to before as_of).
        min_count: types with fewer events are pooled into "other" (too rare to learn from).
        max_types: keep at most this many types.
    """
    if len(types) == 0:
        return []
    counts = pd.Series(map_unique(to_category(types), sanitize_activity_type), dtype=object).value_counts()
    kept = sorted(
        ((int(c), t) for t, c in counts.items() if c >= min_count and t != OTHER), key=lambda x: (-x[0], x[1])
    )
    names = [t for _, t in kept]
    return names[:max_types] if max_types else names


def type_codes(activities: ActivityColumns, vocabulary: Sequence[str]) -> np.ndarray:
    """Per-event index into the spec's activity-type vocabulary; unknown and missing types -> "other"."""
    index = _vocabulary_index(tuple(vocabulary))
    other = index[OTHER]
    table = [index.get(sanitize_activity_type(t), other) for t in activities.type_values]
    return np.array([*table, other], dtype=np.int64)[activities.type_codes]


@lru_cache(maxsize=64)
def _vocabulary_index(vocabulary: tuple[str, ...]) -> dict[str, int]:
    # Built once per spec vocabulary rather than per scoring call; callers only read it.
    return {t: i for i, t in enumerate(vocabulary)}


def excluded_events(activities: ActivityColumns, excluded: Sequence[str]) -> np.ndarray:
    """Per event: True when its (sanitised) type is one of ``excluded`` (leakage suspects)."""
    drop = set(excluded)
    table = [sanitize_activity_type(t) in drop for t in activities.type_values]
    return np.array([*table, False], dtype=bool)[activities.type_codes]


def event_rows(lead_ids: np.ndarray, activities: ActivityColumns) -> np.ndarray:
    """Row of each event's lead in the leads columns (-1 for events of other leads)."""
    if len(lead_ids) < 64:
        index = {lead: i for i, lead in enumerate(lead_ids)}
        unique = len(index) == len(lead_ids)
        value_rows = np.array([index.get(v, -1) for v in activities.lead_values] + [-1], dtype=np.int64)
    else:
        lead_index = pd.Index(lead_ids)
        unique = lead_index.is_unique
        value_rows = np.append(lead_index.get_indexer(activities.lead_values), -1).astype(np.int64)
    if not unique:
        raise SchemaError(f"column {canonical.LEAD_ID!r} must be unique when an activity log is given")
    return value_rows[activities.lead_codes]


def types_before_as_of(lead_ids: np.ndarray, as_of_ns: np.ndarray, activities: ActivityColumns) -> np.ndarray:
    """Activity types of the events that count for these leads (strictly before each lead's as_of).

    The activity-type vocabulary is learnt from these only, so a type that exists only after the scoring
    moment (contract signed, onboarding) never becomes a feature of its own.
    """
    rows = event_rows(lead_ids, activities)
    keep = (rows >= 0) & (activities.occurred_ns != NAT)
    keep[keep] = as_of_ns[rows[keep]] > activities.occurred_ns[keep]
    return activities.activity_types()[keep]


def intent_from_events(
    lead_ids: np.ndarray, as_of_ns: np.ndarray, activities: ActivityColumns, spec: FeatureSpec
) -> Columns:
    """Intent features of each lead from its events strictly before its as_of.

    Args:
        lead_ids: lead ids (unique), one per row.
        as_of_ns: scoring moment per lead (int64 ns).
        activities: the activity log (events of other leads are ignored).
        spec: windows, half-life and activity-type vocabulary.

    Returns:
        ``intent_<type>_<N>d`` counts, ``intent_total`` (all events before as_of), ``intent_days_since_last``
        (NaN without events) and ``intent_engagement_decayed`` (sum of 0.5 ** (age / half-life)).
    """
    n = len(lead_ids)
    types = list(spec.activity_types)
    n_types = len(types)
    rows = event_rows(lead_ids, activities)
    codes = type_codes(activities, types)
    keep = (rows >= 0) & (activities.occurred_ns != NAT)
    if spec.excluded_activity_types:
        keep &= ~excluded_events(activities, spec.excluded_activity_types)
    rows, codes = rows[keep], codes[keep]
    age_ns = as_of_ns[rows] - activities.occurred_ns[keep]
    # The point-in-time filter: events at or after as_of do not exist yet at the scoring moment.
    before = age_ns > 0
    rows, codes = rows[before], codes[before]
    age_days = age_ns[before] / NS_PER_DAY

    # One count per (lead, type, window) in a single bincount: an event counts in every window its age fits.
    # Cell (row * n_types + type) * n_windows + window is type-major with the windows inner, the order of the
    # spec's names, so the transposed counts pair with the names row by row (nothing formatted per call).
    windows = np.asarray(spec.intent_windows_days, dtype=np.float64)
    n_windows = len(windows)
    in_window = age_days[:, None] <= windows
    cells = ((rows * n_types + codes)[:, None] * n_windows + np.arange(n_windows))[in_window]
    width = n_types * n_windows
    counts = np.bincount(cells, minlength=n * width).reshape(n, width).astype(np.float64)
    out: Columns = dict(zip(spec.intent_count_names, np.ascontiguousarray(counts.T), strict=True))
    out["intent_total"] = np.bincount(rows, minlength=n).astype(np.float64)
    if n == 1:  # every event is this lead's: a plain minimum, minus ufunc.at's fixed cost (the API's lead)
        last = np.full(1, age_days.min(initial=np.inf))
    else:
        last = np.full(n, np.inf)
        np.minimum.at(last, rows, age_days)
    out["intent_days_since_last"] = np.where(np.isfinite(last), last, np.nan)
    out["intent_engagement_decayed"] = np.bincount(
        rows, weights=np.exp2(-age_days / spec.decay_half_life_days), minlength=n
    ).astype(np.float64)
    return out


def _numeric_rows(columns: Mapping[str, Any], names: Sequence[str]) -> np.ndarray:
    """The named columns as rows of one float64 matrix, converted like ``to_numeric`` (SchemaError names one).

    Request dicts give numpy object columns: one conversion of all of them at once replaces one per column
    (the API scores one lead with ~45 count columns, so per-column fixed costs were most of the intent time).
    For numpy input ``to_numeric`` is this very cast, column by column; on a failure the per-column route
    finds and names the offending column.
    """
    values = [columns[name] for name in names]
    if set(map(type, values)) == {np.ndarray}:  # not pandas Series (their own dtypes take to_numeric)
        try:
            if len(values[0]) == 1:  # one lead: numpy reads its plain values faster than 1-element arrays
                return np.array([v[0] for v in values], dtype=np.float64).reshape(len(names), 1)
            return np.array(values, dtype=np.float64).reshape(len(names), -1)
        except (TypeError, ValueError):
            pass  # some value is not a number: let to_numeric name the column
    return np.array([to_numeric(v, name) for v, name in zip(values, names, strict=True)], dtype=np.float64)


def intent_from_aggregates(columns: Mapping[str, np.ndarray], spec: FeatureSpec, n: int) -> Columns:
    """Intent features supplied pre-aggregated by the caller (API clients may send counts, not events).

    Per lead, whether its column is absent or its value is missing (None, NaN): a missing count means no
    such events (0); a missing ``intent_total`` is the sum of the widest window's counts (a lower bound); a
    missing ``intent_days_since_last`` is unknown (NaN) and a missing decayed score is 0. Decided value by
    value, so a lead's features never depend on which other leads share its batch (the API scores concurrent
    requests together, and a CSV column may be blank for some rows only).
    """
    names = spec.intent_feature_names  # counts (type-major), total, days since last, decayed
    total, days = len(names) - 3, len(names) - 2
    matrix = np.full((len(names), n), np.nan)
    given = [i for i, name in enumerate(names) if name in columns]
    if given:
        matrix[given] = _numeric_rows(columns, [names[i] for i in given])
    recency = matrix[days].copy()
    no_total = np.isnan(matrix[total])
    np.copyto(matrix, 0.0, where=np.isnan(matrix))
    if np.isinf(matrix).any():  # what np.nan_to_num does to them (negative ones are refused below)
        np.nan_to_num(matrix, copy=False)
    matrix[days] = recency
    if no_total.any():
        widest = max(spec.intent_windows_days)
        rows = [names.index(f"intent_{t}_{widest}d") for t in spec.activity_types]
        matrix[total] = np.where(
            no_total, matrix[rows].sum(axis=0, dtype=np.float64) if rows else 0.0, matrix[total]
        )
    # One negativity check over all columns (NaN compares False), then find the culprit only on failure.
    negative = (matrix < 0).any(axis=1)
    if negative.any():
        raise SchemaError(f"column {names[int(np.argmax(negative))]!r} must not be negative")
    return {name: matrix[i] for i, name in enumerate(names)}
