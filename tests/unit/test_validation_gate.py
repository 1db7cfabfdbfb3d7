"""The validation gate (GX suites + pandas checks): each planted defect gives one clear line.

Duplicate ids, unparseable dates, unknown outcomes, a missing mapped column, too few conversions, negative
employees and closed-before-created are exercised end to end in tests/integration/test_validate_stage.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.core.params import Mapping, ValidateParams
from leadscore.validation.expectations import build_suite
from leadscore.validation.gate import validate_leads
from leadscore.validation.report import render_html
from tests.validation_fixtures import SMALL_VALIDATE, make_activities, make_leads, pull_summary

PARAMS = ValidateParams(**SMALL_VALIDATE)


@pytest.fixture(scope="module")
def leads() -> pd.DataFrame:
    return make_leads(300, seed=1)


@pytest.fixture(scope="module")
def activities(leads: pd.DataFrame) -> pd.DataFrame:
    return make_activities(leads)


def _lines(leads: pd.DataFrame, activities: pd.DataFrame | None = None, **kwargs: object) -> list[str]:
    params = kwargs.pop("params", PARAMS)
    summary = kwargs.pop("summary", pull_summary())
    report = validate_leads(leads, activities, summary, params, current_year=2026, **kwargs)  # type: ignore[arg-type]
    assert report.success == (not report.failures)
    return report.lines


def test_clean_export_passes_with_counts_and_no_progress_bars(
    leads: pd.DataFrame, activities: pd.DataFrame, capfd: pytest.CaptureFixture[str]
) -> None:
    report = validate_leads(leads, activities, pull_summary(), PARAMS, current_year=2026)
    assert "Calculating Metrics" not in capfd.readouterr().err  # GX's tqdm bars are switched off
    assert report.success, report.lines
    assert report.counts["rows"] == 300
    assert report.counts["conversions"] + report.counts["non_conversions"] == 300
    assert report.counts["activities"] == len(activities)
    assert report.gx["leads"]["success"] is True


def test_suite_is_derived_from_present_columns_and_mapping() -> None:
    kinds = {"lead_id": "O", "created_at": "M", "closed_at": "M", "employees": "f", "xcat_tags": "O"}
    mapping = Mapping(firmographic={"industry": "Sector"})
    suite = build_suite(kinds, PARAMS, mapping=mapping, current_year=2026)
    checks = {(e.meta["check"], e.meta["column"]) for e in suite.expectations}
    assert ("column_exists", "industry") in checks  # mapped, so pull must have written it
    assert ("closed_after_created", "closed_at") in checks
    assert ("range", "employees") in checks
    assert ("missing_rate", "xcat_tags") in checks
    assert ("range", "founded_year") not in checks  # absent column: no range to check


def test_unparseable_numbers_reported_by_pull_fail_the_gate(leads: pd.DataFrame) -> None:
    summary = pull_summary(parse_failures={"employees": 4}, parse_examples={"employees": "about 50"})
    assert _lines(leads, summary=summary) == ["employees: 4 unparseable values (e.g. 'about 50')"]


def test_empty_export_is_a_clear_failure_not_a_crash(leads: pd.DataFrame) -> None:
    assert _lines(leads.iloc[0:0]) == ["leads: 0 rows: the export is empty"]
    assert _lines(pd.DataFrame()) == ["leads: no columns: the export is empty"]


def test_too_few_rows(leads: pd.DataFrame) -> None:
    assert _lines(leads, params=ValidateParams(min_rows=1000, min_conversions=1, min_non_conversions=1)) == [
        "leads: 300 rows (min 1000)"
    ]


def test_founded_year_in_the_future(leads: pd.DataFrame) -> None:
    bad = leads.copy()
    bad.loc[0, "founded_year"] = 2099.0
    assert _lines(bad) == ["founded_year: 1 value outside 1800..2026 (e.g. 2099)"]


def test_closed_before_created_names_the_leads(leads: pd.DataFrame) -> None:
    bad = leads.copy()
    bad.loc[[20, 21], "closed_at"] = bad.loc[[20, 21], "created_at"] - pd.Timedelta(days=3)
    assert _lines(bad) == ["closed_at: 2 leads closed before they were created (e.g. 'L-000021', 'L-000022')"]
    # A documented export quirk (Olist: 2 of 842) can be tolerated explicitly.
    tolerant = ValidateParams(**SMALL_VALIDATE, max_closed_before_created_rate=0.01)
    assert _lines(bad, params=tolerant) == []


def test_configured_numeric_ranges_and_category_sets(leads: pd.DataFrame) -> None:
    params = ValidateParams(
        **SMALL_VALIDATE,
        numeric_ranges={"xnum_page_views": (0, 5)},
        category_sets={"lead_source": ["web form", "referral", "paid search"]},
    )
    lines = _lines(leads, params=params)
    assert len(lines) == 2
    assert lines[0].startswith("xnum_page_views: ")
    assert "values outside 0..5" in lines[0]
    assert lines[1].startswith("lead_source: ")
    assert "not in the allowed set (e.g. 'event')" in lines[1]


def test_nearly_empty_feature_column_fails_the_missing_rate(leads: pd.DataFrame) -> None:
    sparse = leads.assign(xcat_campaign=np.where(np.arange(len(leads)) < 6, "spring", None))
    assert _lines(sparse) == ["xcat_campaign: 98.0% missing (max 95%)"]


def test_text_timestamps_are_reported_not_crashed_on(leads: pd.DataFrame) -> None:
    text = leads.assign(closed_at=leads["closed_at"].dt.strftime("%d/%m/%Y"))
    assert _lines(text) == ["closed_at: not parsed as timestamps (dtype str)"]


def test_activity_problems_each_get_a_line(leads: pd.DataFrame, activities: pd.DataFrame) -> None:
    bad = activities.copy()
    bad.loc[0, "lead_id"] = "L-999999"
    bad.loc[[1, 2], "activity_type"] = ["", "  "]
    bad.loc[3, "occurred_at"] = pd.NaT
    summary = pull_summary()
    summary["activities"] = {
        "parse_failures": {"occurred_at": 2},
        "parse_examples": {"occurred_at": "yesterday"},
    }
    summary["activities"]["dropped_unreadable"] = 2
    assert _lines(leads, bad, summary=summary) == [
        "activities.occurred_at: 2 unparseable values, rows dropped by pull (e.g. 'yesterday')",
        "activities.occurred_at: 1 missing value (0.1%)",
        "activities.activity_type: 2 empty values",
        "activities.lead_id: 1 activity of unknown leads (e.g. 'L-999999')",
    ]


def test_empty_activity_log_is_allowed(leads: pd.DataFrame, activities: pd.DataFrame) -> None:
    assert _lines(leads, activities.iloc[0:0]) == []


STOP = ValidateParams(**SMALL_VALIDATE, leakage={"action": "stop"})


def test_leaky_column_is_excluded_by_default_with_its_evidence(leads: pd.DataFrame) -> None:
    leaky = leads.assign(xnum_close_value=np.where(leads["label"] == 1, 1000.0, 0.0))
    report = validate_leads(leaky, None, None, PARAMS, current_year=2026)
    assert report.success
    assert report.excluded_names == ["xnum_close_value"]
    (excluded,) = report.as_dict()["excluded_columns"]
    assert excluded["kind"] == "single_column_auc"
    assert excluded["evidence"].startswith("rank AUC of the value 1.000")
    assert "excluded as leaky: xnum_close_value" in report.summary_line()
    # The owner's allow list wins over exclusion: the column stays a feature, with a warning.
    allowed = validate_leads(leaky, None, None, PARAMS, allow_leaky=["close_value"], current_year=2026)
    assert allowed.success
    assert allowed.excluded == []


def test_leaky_column_fails_the_gate_with_action_stop_and_an_allowed_one_only_warns(
    leads: pd.DataFrame,
) -> None:
    leaky = leads.assign(xnum_close_value=np.where(leads["label"] == 1, 1000.0, 0.0))
    lines = _lines(leaky, params=STOP)
    assert len(lines) == 1
    assert lines[0].startswith(
        "xnum_close_value: possible leakage (single_column_auc): rank AUC of the value 1.000"
    )
    report = validate_leads(leaky, None, None, STOP, allow_leaky=["close_value"], current_year=2026)
    assert report.success
    assert any("xnum_close_value" in w and "allowed" in w for w in report.warnings)


def test_summary_line_names_every_problem_in_one_line(leads: pd.DataFrame) -> None:
    bad = leads.copy()
    bad.loc[5, "lead_id"] = bad.loc[4, "lead_id"]
    bad.loc[10, "employees"] = -3.0
    report = validate_leads(bad, None, pull_summary(), PARAMS, current_year=2026)
    line = report.summary_line()
    assert "\n" not in line
    assert line == (
        "validation failed: 2 problems: lead_id: 2 duplicate values (e.g. 'L-000005'); "
        "employees: 1 value below 0 (e.g. -3)"
    )


def test_html_report_is_self_contained_and_shows_failures(leads: pd.DataFrame) -> None:
    bad = leads.copy()
    bad.loc[10, "employees"] = -3.0
    page = render_html(validate_leads(bad, None, None, PARAMS, current_year=2026))
    assert "FAILED" in page
    assert "employees" in page
    assert "<script" not in page
    assert "http" not in page


def test_missing_key_columns_and_nullable_dtypes_are_reported_not_crashed_on(leads: pd.DataFrame) -> None:
    odd = leads.drop(columns=["lead_id", "created_at"]).assign(
        employees=pd.array([None, -3] + [10] * (len(leads) - 2), dtype="Int64"),
        xcat_flag=pd.array([True, None] + [False] * (len(leads) - 2), dtype="boolean"),
    )
    assert _lines(odd) == [
        "lead_id: column missing (required, or mapped in source.mapping)",
        "created_at: column missing (required, or mapped in source.mapping)",
        "employees: 1 value below 0 (e.g. -3)",
    ]


def test_feature_checks_are_ignored_for_a_column_the_detector_keeps_out(leads: pd.DataFrame) -> None:
    # An outcome-only column: filled for 20 won leads, empty for everything else (93 % missing, over the 90 %
    # bound here, like Olist's closed-deal columns). The detector excludes it, so its emptiness (and its
    # configured range) must not stop training...
    won = np.flatnonzero(leads["label"].to_numpy() == 1)[:20]
    value = np.full(len(leads), np.nan)
    value[won] = 5000.0
    closed = leads.assign(xnum_declared_revenue=value)
    params = ValidateParams(
        **{**SMALL_VALIDATE, "max_missing_rate": 0.9, "numeric_ranges": {"xnum_declared_revenue": [0, 100]}}
    )
    report = validate_leads(closed, None, None, params, current_year=2026)
    assert report.success, report.lines
    assert report.excluded_names == ["xnum_declared_revenue"]
    ignored = [w for w in report.warnings if "ignored: a leakage suspect" in w]
    assert [w.split(":")[0] for w in ignored] == ["xnum_declared_revenue", "xnum_declared_revenue"]
    # ...but once the owner vouches for it (it stays a feature), the missing rate and the range apply again.
    allowed = validate_leads(
        closed, None, None, params, allow_leaky=["xnum_declared_revenue"], current_year=2026
    )
    assert not allowed.success
    assert sorted(f.check for f in allowed.failures) == ["missing_rate", "range"]


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        (
            "created_at",
            "2262-01-01",
            "created_at: 1 timestamp before 1900-01-01 or after 2024-06-02 00:00:00",
        ),
        ("closed_at", "0001-01-01", "closed_at: 1 timestamp before 1900-01-01 or after 2024-06-02"),
        ("created_at", "1899-12-31", "created_at: 1 timestamp before 1900-01-01"),
    ],
)
def test_timestamps_after_the_pull_or_before_1900_fail_with_one_line(
    leads: pd.DataFrame, column: str, value: str, expected: str
) -> None:
    """One future created_at would otherwise move the maturity reference of a whole export."""
    bad = leads.copy()
    bad[column] = bad[column].astype("datetime64[us]")
    bad.loc[5, column] = pd.Timestamp(value)
    lines = _lines(bad)
    hits = [line for line in lines if "timestamp" in line]
    assert len(hits) == 1, lines
    assert expected in hits[0]


def test_activity_after_the_pull_fails_and_no_pull_time_checks_the_lower_bound_only(
    leads: pd.DataFrame, activities: pd.DataFrame
) -> None:
    late = activities.copy()
    late.loc[3, "occurred_at"] = pd.Timestamp("2030-01-01")
    assert any(line.startswith("activities.occurred_at: 1 timestamp") for line in _lines(leads, late))
    assert _lines(leads, late, summary=pull_summary(pulled_at=None)) == []


def test_gate_ranges_come_from_the_shared_table_the_api_and_batch_use() -> None:
    from leadscore.core import canonical

    kinds = dict.fromkeys(canonical.NUMERIC_ROLES, "f")
    suite = build_suite(kinds, PARAMS, current_year=2026)
    ranges = {
        e.meta["column"]: (e.min_value, e.max_value) for e in suite.expectations if e.meta["check"] == "range"
    }
    assert ranges == {**canonical.NUMERIC_RANGES, "founded_year": (1800, 2026)}  # capped at the current year


def _after_reference_summary(n: int, rows_in: int) -> dict[str, object]:
    summary = pull_summary()
    summary["leads"].update(  # type: ignore[union-attr]
        rows_in=rows_in,
        reference_time="2024-06-01 00:00:00",
        created_after_reference=n,
        created_after_reference_examples=["2024-07-02 00:00:00", "2201-01-01 00:00:00"],
    )
    return summary


def test_leads_created_after_the_pinned_reference_time_stop_validate_over_the_threshold(
    leads: pd.DataFrame,
) -> None:
    lines = _lines(leads, summary=_after_reference_summary(33, 333))
    assert any(
        "created_at" in line
        and "33 leads (9.9% of the export) created after source.label.reference_time 2024-06-01" in line
        and "'2201-01-01 00:00:00'" in line
        for line in lines
    ), lines
    tolerant = PARAMS.model_copy(update={"max_created_after_reference_rate": 0.1})
    report = validate_leads(leads, None, _after_reference_summary(33, 333), tolerant, current_year=2026)
    assert report.success, report.lines
    assert any("33 leads" in w and "left out of training" in w for w in report.warnings)


def test_failures_name_the_export_column_beside_the_canonical_role(leads: pd.DataFrame) -> None:
    broken = leads.copy()
    broken.loc[:4, "lead_id"] = broken.loc[5, "lead_id"]
    mapping = Mapping(lead_id="Id", created_at="CreatedDate", firmographic={"industry": "Industry__c"})
    lines = _lines(broken, mapping=mapping)
    assert any(line.startswith("lead_id (export column 'Id'): ") for line in lines), lines
    assert not any("(export column 'lead_id')" in line for line in _lines(broken))
