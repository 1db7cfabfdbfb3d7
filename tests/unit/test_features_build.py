from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from leadscore.core import canonical
from leadscore.core.errors import SchemaError
from leadscore.features.build import build_features, leads_from_frame, leads_from_records
from leadscore.features.columns import NAT, to_category, to_nanoseconds
from leadscore.features.spec import infer_spec

SPEC = infer_spec(
    ["lead_id", "created_at", *canonical.ROLE_COLUMNS, "xcat_plan", "xnum_visits"], activity_types=[]
)


def _leads() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": ["A", "B", "C"],
            "created_at": pd.to_datetime(["2024-01-10 00:00", "2024-06-01 08:00", "2024-12-31 00:00"]),
            "industry": ["Software", None, " Retail "],
            "employees": [250.0, np.nan, 12.0],
            "annual_revenue": [5e7, 1e6, np.nan],
            "country": ["Germany", "usa", None],
            "founded_year": [2001.0, np.nan, 2026.0],
            "budget_status": ["Approved", "none", None],
            "contact_title": ["VP Sales", "Intern", None],
            "need": ["reporting", None, "compliance"],
            "purchase_timeframe": ["1-3 months", "unknown", None],
            "lead_source": ["referral", "event", ""],
            "xcat_plan": [3.0, np.nan, 4.0],
            "xnum_visits": [1, 2, 3],
        }
    )


def _build(raw):  # noqa: ANN001, ANN202
    return build_features(raw, SPEC).features


def test_frame_and_records_routes_build_identical_features() -> None:
    frame = _leads()
    records = frame.to_dict("records")
    records[0]["xcat_plan"] = 3  # an int from JSON reads like the float 3.0 of the frame
    records[1]["created_at"] = "2024-06-01T10:00:00+02:00"  # same instant, time-zone aware string
    a = _build(leads_from_frame(frame, SPEC))
    b = _build(leads_from_records(records, SPEC))
    assert list(a) == SPEC.feature_names
    for name in SPEC.feature_names:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_values_are_normalised_once_for_both_routes() -> None:
    f = _build(leads_from_frame(_leads(), SPEC))
    assert f["firmo_industry"].tolist() == ["Software", None, "Retail"]
    assert f["bant_budget"].tolist() == ["approved", "none", None]
    assert f["acq_lead_source"].tolist() == ["referral", "event", None]
    assert f["extra_plan"].tolist() == ["3", None, "4"]
    assert f["firmo_company_age"][0] == 23.0
    assert np.isnan(f["firmo_company_age"][2])
    assert f["bant_authority"].tolist() == ["vp", "student_intern", None]


@pytest.mark.parametrize("column", ["industry", "employees", "xnum_visits", "lead_id"])
def test_missing_required_column_is_a_schema_error_naming_it(column: str) -> None:
    with pytest.raises(SchemaError, match=column):
        _build(leads_from_frame(_leads().drop(columns=[column]), SPEC))
    records = [{k: v for k, v in r.items() if k != column} for r in _leads().to_dict("records")]
    with pytest.raises(SchemaError, match=column):
        _build(leads_from_records(records, SPEC))


@pytest.mark.parametrize(
    ("column", "value"), [("employees", "many"), ("xnum_visits", "n/a?"), ("created_at", "soon")]
)
def test_wrong_type_is_a_schema_error_naming_the_column(column: str, value: str) -> None:
    records = _leads().to_dict("records")
    records[1][column] = value
    with pytest.raises(SchemaError, match=column):
        _build(leads_from_records(records, SPEC))


def test_missing_created_at_needs_an_as_of() -> None:
    records = _leads().drop(columns=["created_at"]).to_dict("records")
    with pytest.raises(SchemaError, match="created_at"):
        _build(leads_from_records(records, SPEC))
    batch = build_features(leads_from_records(records, SPEC), SPEC, as_of="2024-07-01")
    assert (batch.as_of_ns == pd.Timestamp("2024-07-01").value).all()


def test_per_lead_as_of_column_overrides_the_default_offset() -> None:
    frame = _leads()
    frame["as_of"] = [pd.Timestamp("2024-02-01"), pd.NaT, pd.NaT]
    batch = build_features(leads_from_frame(frame, SPEC), SPEC)
    assert batch.as_of_ns[0] == pd.Timestamp("2024-02-01").value
    assert batch.as_of_ns[1] == (pd.Timestamp("2024-06-01 08:00") + pd.Timedelta(days=14)).value


def test_column_normalisers_agree_for_small_and_large_inputs() -> None:
    values = np.array([" a", "b ", None, np.nan, "", 3.0, 3, True] * 20, dtype=object)
    assert to_category(values).tolist() == to_category(values[:8]).tolist() * 20
    stamps = np.array(["2024-01-01T00:00:00Z", None, pd.Timestamp("2024-01-01 01:00")] * 30, dtype=object)
    assert to_nanoseconds(stamps, "t").tolist() == to_nanoseconds(stamps[:3], "t").tolist() * 30
    assert to_nanoseconds(stamps[:3], "t")[1] == NAT


@pytest.mark.parametrize(
    "value",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),  # UTC would be year 0
        datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))),  # UTC would be year 10000
    ],
)
def test_aware_datetimes_whose_utc_leaves_the_calendar_are_a_schema_error(value: datetime) -> None:
    """The plain-datetime fast path (API requests) converts to UTC first, which overflows at the calendar's
    ends: that must be the same one-line range error as any other placeholder, not an OverflowError."""
    for values in ([value], [value] * 40):  # one by one, and the batch path
        with pytest.raises(SchemaError, match="'t': .* is outside the supported time range"):
            to_nanoseconds(np.array(values, dtype=object), "t")
