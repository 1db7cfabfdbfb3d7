"""Date-times -> the canonical clock (naive UTC, int64 nanoseconds), in one place.

Every stage compares times as int64 nanoseconds, and nanoseconds only reach 1677-09-21 .. 2262-04-11. CRM
exports routinely hold placeholders far outside that ("9999-12-31" for "no date", "0001-01-01" for "unset").
pandas keeps them in microsecond columns, but the step to nanoseconds either raises ``OutOfBoundsDatetime``
(pandas) or, worse, silently wraps around (numpy's ``astype("datetime64[ns]")`` turns 9999-01-01 into
1815-03-31, so a "no date" activity would count as past activity). Everything converts through here, so a
time is either exact or reported: a :class:`~leadscore.core.errors.SchemaError` naming the column where one
bad value must stop the request, or a mask of out-of-range values where the caller coerces and counts them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from leadscore.core.errors import SchemaError

NAT = np.iinfo(np.int64).min  # numpy's own NaT bit pattern, so datetime64 views need no translation
# The representable nanosecond range, trimmed to whole days inside it (exclusive upper bound).
LOWEST = np.datetime64("1677-09-22", "D")
BEYOND = np.datetime64("2262-04-11", "D")
RANGE_TEXT = f"{LOWEST} .. {BEYOND - 1}"
# Plausible CRM times, one definition for the validation gate and the API: placeholders such as 0001-01-01
# ("unset") or 9999-12-31 ("no date") parse as dates but mean "unknown". The API refuses years outside
# PLAUSIBLE_YEARS (inclusive); the gate refuses anything before EARLIEST_PLAUSIBLE and after the pull time
# plus CLOCK_TOLERANCE, the slack for time zones and clock skew.
PLAUSIBLE_YEARS = (1900, 2200)
EARLIEST_PLAUSIBLE = pd.Timestamp(year=PLAUSIBLE_YEARS[0], month=1, day=1)
CLOCK_TOLERANCE = pd.Timedelta(days=1)


def utc_naive(value: datetime, *, column: str = "date-time") -> datetime:
    """A datetime as naive UTC (naive input is taken to be UTC already).

    Raises:
        SchemaError: the conversion leaves Python's datetime range (9999-12-31T23:00-05:00 is year 10000 in
            UTC); callers at the edges turn it into their one-line error instead of an OverflowError.
    """
    if value.tzinfo is not None:
        try:
            value = value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            raise SchemaError(
                f"{column} {str(value)[:40]!r} is outside the representable date-time range once converted "
                "to UTC"
            ) from None
    return value


def out_of_range_message(column: str, value: Any) -> str:
    """The one-line error for a time the canonical clock cannot hold."""
    return f"column {column!r}: {str(value)[:40]!r} is outside the supported time range {RANGE_TEXT}"


def timestamp_ns(value: Any, column: str) -> int:
    """One date-time (Timestamp, datetime, date, np.datetime64 or text) as int64 ns naive UTC.

    Returns:
        The nanoseconds, or ``NAT`` for a missing value (None, NaT, blank text).

    Raises:
        SchemaError: the value is not a date-time, or lies outside the nanosecond range.
    """
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError):
        raise SchemaError(f"column {column!r} must be a date-time, got {str(value)[:40]!r}") from None
    if ts is pd.NaT:
        return NAT
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    try:
        return int(ts.as_unit("ns").value)
    except (OverflowError, ValueError):  # OutOfBoundsDatetime is a ValueError
        raise SchemaError(out_of_range_message(column, value)) from None


def outside_range(values: np.ndarray) -> np.ndarray:
    """Mask of the (non-NaT) values of a naive datetime64 array of any unit that nanoseconds cannot hold.

    The comparison runs in the array's own unit (the bounds are whole days, so casting them is exact).
    """
    unit = np.datetime_data(values.dtype)[0]
    low, high = LOWEST.astype(f"datetime64[{unit}]"), BEYOND.astype(f"datetime64[{unit}]")
    return ~np.isnat(values) & ((values < low) | (values >= high))


def datetime64_ns(values: np.ndarray, column: str, *, coerce: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A naive datetime64 array of any unit as int64 ns, never wrapping around.

    Args:
        values: naive (UTC) datetime64 values.
        column: the column name, for the error.
        coerce: True turns out-of-range values into ``NAT`` (the caller counts them); False raises.

    Returns:
        (int64 ns with ``NAT`` for missing, mask of the values that were out of range).

    Raises:
        SchemaError: a value is out of range and ``coerce`` is False.
    """
    bad = outside_range(values)
    if bad.any() and not coerce:
        raise SchemaError(out_of_range_message(column, values[bad][0]))
    if np.datetime_data(values.dtype)[0] == "ns":
        ns = values.view(np.int64)
        return (np.where(bad, NAT, ns) if bad.any() else ns), bad
    safe = np.where(bad, np.datetime64("NaT"), values) if bad.any() else values
    return safe.astype("datetime64[ns]").view(np.int64), bad


def naive_utc_series(series: pd.Series) -> pd.Series:
    """A datetime Series as naive UTC (time-zone aware input is converted; naive input is taken as UTC)."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series
