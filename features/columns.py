"""Typed columnar input: the one place where DataFrames and request dicts become numpy columns.

Scoring must be fast both for one lead (the API) and for many (batch), so the feature code never works on
one-row DataFrames. A DataFrame is converted column by column once; a list of request dicts is converted to
the same columns. Both routes end in the same normalisers, which is what makes ``score`` and ``score_records``
return identical numbers: a value is read the same way whichever container it arrived in.

Conventions of a column set (``Columns``):

* categorical columns: object arrays of ``str`` or ``None`` (missing, NaN and blank strings are ``None``);
* numeric columns: float64 with NaN for missing;
* time columns: int64 nanoseconds since the epoch (naive UTC) with ``NAT`` for missing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from leadscore.core import canonical
from leadscore.core.errors import SchemaError
from leadscore.core.timestamps import (
    NAT,
    datetime64_ns,
    naive_utc_series,
    out_of_range_message,
    timestamp_ns,
)

logger = logging.getLogger(__name__)

Columns = dict[str, np.ndarray]

NS_PER_DAY = 86_400 * 1_000_000_000
# Below this many rows a plain Python loop beats pandas' vectorised parsers (their fixed cost is ~100 us).
SMALL_BATCH = 64


def _is_missing_scalar(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return isinstance(value, str) and not value.strip()


def category_string(value: Any) -> str | None:
    """Canonical text of one categorical value; ``3``, ``3.0`` and ``"3"`` all read as ``"3"``."""
    if type(value) is str:  # the common case, first: the checks below end in exactly this for a str
        return value.strip() or None
    if _is_missing_scalar(value):
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    return str(value).strip()


def _normalise_uniques(uniques: Any) -> list[str | None]:
    """``category_string`` over distinct values, with a fast path for the common all-text case."""
    values = np.asarray(uniques, dtype=object)
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        return [s.strip() or None for s in values]
    return [category_string(v) for v in values]


def _factorize_normalised(values: np.ndarray | pd.Series | Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Factorise once: codes (-1 missing), normalised distinct values and a trailing None (what -1 picks)."""
    if not isinstance(values, np.ndarray | pd.Series):
        values = np.asarray(values, dtype=object)
    if isinstance(values, np.ndarray) and values.dtype != object:
        values = values.astype(object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([*_normalise_uniques(uniques), None], dtype=object)
    return codes, mapped


def factorize_category(values: np.ndarray | pd.Series | Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Codes (-1 missing) and normalised distinct values of a categorical column.

    Works on pandas' Arrow-backed strings without materialising one Python string per row, which is what
    keeps a million-event activity log cheap.
    """
    if len(values) < SMALL_BATCH:  # a request's handful of events: a dict beats pandas' fixed costs
        seq = values.tolist() if isinstance(values, np.ndarray | pd.Series) else list(values)
        index: dict[str, int] = {}
        small = [-1 if (v := category_string(x)) is None else index.setdefault(v, len(index)) for x in seq]
        return np.array(small, dtype=np.int64), np.array(list(index), dtype=object)
    codes, mapped = _factorize_normalised(values)
    # Blank strings normalise to None: give them the missing code too.
    blank = np.array([v is None for v in mapped[:-1]] + [True])
    codes = np.where(blank[codes], -1, codes).astype(np.int64)
    return codes, mapped[:-1]


def to_category(values: np.ndarray | pd.Series | Sequence[Any]) -> np.ndarray:
    """Normalise any array of labels to an object array of stripped strings or ``None``.

    Large inputs are factorised first so each distinct value is converted once (categorical columns repeat).
    """
    if len(values) < SMALL_BATCH:
        seq = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else values
        return np.array([category_string(v) for v in seq], dtype=object)
    codes, mapped = _factorize_normalised(values)
    return mapped[codes]  # code -1 picks the trailing None


def to_numeric(values: np.ndarray | pd.Series | Sequence[Any], column: str) -> np.ndarray:
    """Normalise a column to float64 (NaN missing); raise SchemaError naming the column on text values."""
    if isinstance(values, pd.Series):
        if pd.api.types.is_numeric_dtype(values.dtype):
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        values = values.to_numpy(dtype=object)
    arr = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float64, copy=False)
    try:
        return np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        pass
    out = np.empty(len(arr), dtype=np.float64)
    for i, value in enumerate(arr):
        if _is_missing_scalar(value):
            out[i] = np.nan
            continue
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            raise SchemaError(
                f"column {column!r} must be numeric, got {type(value).__name__} value {str(value)[:40]!r}"
            ) from None
    return out


# Plain datetimes in this range convert exactly with integer arithmetic (pandas' ns bounds, a day inside).
_EPOCH = datetime(1970, 1, 1)
_ONE_MICROSECOND = timedelta(microseconds=1)
_FAST_RANGE = (datetime(1678, 1, 1), datetime(2262, 4, 1))


def _timestamp_ns(value: Any, column: str) -> int:
    if type(value) is datetime:
        # What API requests carry (pydantic datetimes, naive UTC): ~10x cheaper than building a Timestamp.
        try:
            naive = value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01+01:00 or 9999-12-31T23:00-05:00: UTC falls outside datetime
            raise SchemaError(out_of_range_message(column, value)) from None
        if _FAST_RANGE[0] <= naive <= _FAST_RANGE[1]:
            return (naive - _EPOCH) // _ONE_MICROSECOND * 1000
    if _is_missing_scalar(value):
        return NAT
    return timestamp_ns(value, column)


def to_nanoseconds(values: np.ndarray | Sequence[Any] | pd.Series, column: str) -> np.ndarray:
    """Normalise date-times to int64 ns since the epoch, naive UTC (time-zone aware input is converted)."""
    if isinstance(values, pd.Series):
        values = naive_utc_series(values).to_numpy()
    arr = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    if arr.dtype.kind == "M":  # datetime64 of any unit; out-of-range placeholders (9999-12-31) raise
        return datetime64_ns(arr, column)[0]
    if arr.dtype.kind in "iuf" and len(arr):
        raise SchemaError(f"column {column!r} must be a date-time, got numbers ({arr.dtype})")
    if len(arr) < SMALL_BATCH or (arr.dtype == object and type(arr[0]) is datetime):
        # Few values, or plain datetimes (an API request's activities): converted one by one, each in
        # ~0.3 us, beats pandas' parser and its fixed cost.
        return np.array([_timestamp_ns(v, column) for v in arr], dtype=np.int64)
    try:
        parsed = pd.to_datetime(pd.Series(arr, dtype=object), utc=True, format="mixed")
    except (TypeError, ValueError):
        # Find and name the offending value with the scalar parser.
        for value in arr:
            _timestamp_ns(value, column)
        raise SchemaError(f"column {column!r} must contain date-times") from None
    return datetime64_ns(parsed.dt.tz_localize(None).to_numpy(), column)[0]


def scalar_to_nanoseconds(value: Any, column: str = "as_of") -> int:
    """One date-time (a Timestamp, datetime, date or ISO string) as int64 ns, naive UTC."""
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    ns = _timestamp_ns(value, column)
    if ns == NAT:
        raise SchemaError(f"{column} must be a date-time, got {value!r}")
    return ns


def frame_columns(frame: pd.DataFrame, names: Iterable[str]) -> dict[str, pd.Series]:
    """Pick the named columns that exist in ``frame``.

    They stay Series: the normalisers read pandas' own dtypes (time zones, Arrow strings, nullable integers)
    faster and more faithfully than after a generic ``to_numpy``.
    """
    out: dict[str, pd.Series] = {}
    for name in names:
        if name in frame.columns:
            series = frame[name]
            if isinstance(series, pd.DataFrame):
                raise SchemaError(f"column {name!r} appears more than once")
            out[name] = series
    return out


def record_columns(records: Sequence[Mapping[str, Any]], names: Iterable[str]) -> dict[str, np.ndarray]:
    """Pick the named keys from request dicts as object columns.

    A key present in some records only is missing (None) in the others, exactly as ``pd.DataFrame(records)``
    would read it, so the records route and the DataFrame route agree.
    """
    present: set[str] = set()
    for record in records:
        present.update(record.keys())
    picked = [name for name in names if name in present]
    if len(records) < SMALL_BATCH:
        # One object matrix, filled a record at a time, handed out as row views: an API lead has ~60
        # columns, and one small array per column cost more than the values in it.
        matrix = np.empty((len(picked), len(records)), dtype=object)
        try:
            for i, record in enumerate(records):
                matrix[:, i] = [record.get(name) for name in picked]
        except ValueError:  # a value that is itself a sequence: numpy would broadcast it
            pass
        else:
            return {name: matrix[j] for j, name in enumerate(picked)}
    return {name: np.array([record.get(name) for record in records], dtype=object) for name in picked}


def require(columns: Mapping[str, Any], names: Iterable[str], what: str = "leads") -> None:
    """Raise SchemaError naming the first required column that is absent."""
    missing = [name for name in names if name not in columns]
    if missing:
        raise SchemaError(
            f"{what} are missing required column {missing[0]!r}"
            + (f" (and {len(missing) - 1} more: {', '.join(missing[1:6])})" if len(missing) > 1 else "")
        )


def lead_ids(values: np.ndarray | Sequence[Any]) -> np.ndarray:
    """Lead ids as strings (object array); a missing id is a schema error, since results are keyed by it."""
    ids = to_category(values)
    if len(ids) and pd.isna(ids).any():
        raise SchemaError(f"column {canonical.LEAD_ID!r} has missing values")
    return ids


def map_unique(values: np.ndarray, fn: Any, out_dtype: Any = object) -> np.ndarray:
    """Apply ``fn`` once per distinct value of a normalised categorical column (``None`` included).

    Parsers such as the job-title classifier are regex based; titles repeat a lot, so mapping distinct values
    and broadcasting back keeps batch scoring fast without a second code path for single leads.
    """
    if len(values) < SMALL_BATCH:
        cache: dict[Any, Any] = {}
        out = [cache[v] if v in cache else cache.setdefault(v, fn(v)) for v in values]
        return np.array(out, dtype=out_dtype)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([fn(v) for v in uniques] + [fn(None)], dtype=out_dtype)
    return mapped[codes]
