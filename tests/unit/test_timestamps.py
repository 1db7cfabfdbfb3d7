"""The canonical clock: naive UTC nanoseconds, exact or reported, never wrapped around."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from leadscore.core.errors import SchemaError
from leadscore.core.timestamps import datetime64_ns, timestamp_ns, utc_naive
from leadscore.features.columns import NAT, scalar_to_nanoseconds, to_nanoseconds

PLACEHOLDERS = ["9999-12-31", "9999-01-01", "0001-01-01"]


@pytest.mark.parametrize("value", PLACEHOLDERS)
def test_out_of_range_scalar_is_a_schema_error_naming_the_column(value: str) -> None:
    """It used to escape as pandas' OutOfBoundsDatetime ("internal error" at the CLI, 500 at the API)."""
    for form in (value, pd.Timestamp(value), np.datetime64(value), datetime.fromisoformat(value)):
        with pytest.raises(SchemaError, match=r"as_of.*outside the supported time range"):
            scalar_to_nanoseconds(form)
    with pytest.raises(SchemaError, match="'created_at'"):
        to_nanoseconds([value], "created_at")


@pytest.mark.parametrize("n", [3, 200])  # the scalar loop and the vectorised parser
def test_out_of_range_column_is_an_error_not_a_silent_wrap(n: int) -> None:
    """numpy's astype("datetime64[ns]") turned 9999-01-01 into 1815-03-31: a past activity."""
    values = np.array(["2024-01-01"] * (n - 1) + ["9999-01-01"], dtype="datetime64[us]")
    for column in (values, pd.Series(values), values.astype(str).astype(object)):
        with pytest.raises(SchemaError, match="'occurred_at': '9999-01-01"):
            to_nanoseconds(column, "occurred_at")


def test_in_range_values_convert_exactly_whatever_the_unit_and_zone() -> None:
    expected = pd.Timestamp("2024-03-01 12:00").value
    assert to_nanoseconds(np.array(["2024-03-01T12:00"], dtype="datetime64[s]"), "t").tolist() == [expected]
    assert to_nanoseconds(pd.Series(["2024-03-01T14:00+02:00"] * 100), "t")[0] == expected
    assert timestamp_ns("2024-03-01T13:00+01:00", "t") == expected
    assert timestamp_ns(None, "t") == NAT
    edge = np.array(["1677-09-22", "2262-04-10", "NaT"], dtype="datetime64[D]")
    ns, bad = datetime64_ns(edge, "t")
    assert not bad.any()
    assert ns[2] == NAT
    assert pd.Timestamp(ns[1]) == pd.Timestamp("2262-04-10")


def test_coerce_turns_out_of_range_values_into_nat_and_reports_them() -> None:
    values = np.array(["2024-01-01", "9999-12-31", "NaT", "0001-01-01"], dtype="datetime64[us]")
    ns, bad = datetime64_ns(values, "occurred_at", coerce=True)
    assert bad.tolist() == [False, True, False, True]
    assert ns.tolist() == [pd.Timestamp("2024-01-01").value, NAT, NAT, NAT]


@pytest.mark.parametrize("value", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00"])
def test_utc_conversion_past_the_datetime_range_is_a_schema_error_not_an_overflow(value: str) -> None:
    """Both are valid aware datetimes whose UTC form is year 10000 or year 0: an OverflowError was a 500."""
    with pytest.raises(
        SchemaError, match=r"^start '.*' is outside the representable date-time range"
    ) as info:
        utc_naive(datetime.fromisoformat(value), column="start")
    assert "\n" not in str(info.value)
    assert utc_naive(datetime.fromisoformat("2025-03-01T01:00:00+02:00")) == datetime(2025, 2, 28, 23)
