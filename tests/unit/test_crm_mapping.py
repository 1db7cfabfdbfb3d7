"""Mapping raw exports onto canonical columns, and the label policy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.core import canonical
from leadscore.core.canonical import sanitise_name
from leadscore.core.errors import SourceError
from leadscore.core.params import ActivityMapping, JoinSpec, LabelPolicy, Mapping
from leadscore.crm.mapping import (
    OUTCOME_UNKNOWN,
    SYNTHETIC_EPOCH,
    apply_joins,
    map_activities,
    map_leads,
)

OLD = "2024-01-01"


def export_frame() -> pd.DataFrame:
    """A small wide export with CRM-specific column names."""
    return pd.DataFrame(
        {
            "Id": [101, 102, 103, 104, 105],
            "Created": [OLD, "2024-01-02 10:00", "2024-01-03", "2024-06-25", "2024-06-30"],
            "Closed": ["2024-02-01", None, "2024-03-01", None, "2024-07-02"],
            "Stage": ["Closed Won", "Open", "Closed Lost", "Open", "Closed Won"],
            "Sector": ["Software", "Select", "Retail", "Software", None],
            "Headcount": ["120", "n/a", "15", "3000", "40"],
            "Lead Origin": ["API", "Landing Page", "Select", "API", "API"],
            "Time On Site": [10.5, 0, 3, 7, 1],
            "Full Name": ["Ann Example", "Bo Example", "Cy Example", "Di Example", "Ed Example"],
            "E-mail": ["a@x.io", "b@x.io", "c@x.io", "d@x.io", "e@x.io"],
        }
    )


def export_mapping(**changes: object) -> Mapping:
    base: dict[str, object] = {
        "lead_id": "Id",
        "created_at": "Created",
        "closed_at": "Closed",
        "status": "Stage",
        "firmographic": {"industry": "Sector", "employees": "Headcount"},
        "extra_categorical": ["Lead Origin"],
        "extra_numeric": ["Time On Site"],
        "missing_values": ["Select"],
        "pii": ["Full Name", "E-mail"],
    }
    base.update(changes)
    return Mapping.model_validate(base)


POLICY = LabelPolicy(
    won_values=["Closed Won"], lost_values=["Closed Lost"], open_values=["Open"], maturity_days=30
)


def test_mapped_columns_are_renamed_to_canonical_roles_and_extras_prefixed() -> None:
    leads = map_leads(export_frame(), export_mapping(), POLICY).leads
    assert {
        canonical.LEAD_ID,
        canonical.CREATED_AT,
        canonical.CLOSED_AT,
        canonical.INDUSTRY,
        canonical.EMPLOYEES,
    } <= set(leads)
    assert {"xcat_lead_origin", "xnum_time_on_site"} <= set(leads)
    assert not {"Sector", "Lead Origin"} & set(leads.columns)
    assert leads[canonical.LEAD_ID].tolist()[:2] == ["101", "102"]
    assert leads[canonical.CREATED_AT].dtype.kind == "M"
    assert leads[canonical.EMPLOYEES].dtype == float
    assert leads["xnum_time_on_site"].dtype == float


def test_pii_columns_never_reach_the_canonical_frame() -> None:
    leads = map_leads(export_frame(), export_mapping(), POLICY).leads
    text = [str(v) for v in leads.to_numpy().ravel()]
    assert not any("Example" in v or "@x.io" in v for v in text)
    assert not set(canonical.PII_COLUMNS) & set(leads.columns)


def test_pii_column_mapped_as_extra_is_refused() -> None:
    with pytest.raises(SourceError, match="'E-mail' is listed as PII"):
        map_leads(export_frame(), export_mapping(extra_categorical=["E-mail"]), POLICY)


def test_missing_value_tokens_become_missing() -> None:
    leads = map_leads(export_frame(), export_mapping(), POLICY).leads.set_index(canonical.LEAD_ID)
    assert pd.isna(leads.loc["102", canonical.INDUSTRY])
    assert pd.isna(leads.loc["103", "xcat_lead_origin"])
    assert leads.loc["101", canonical.INDUSTRY] == "Software"


def test_unparseable_numbers_and_timestamps_are_counted_not_fatal() -> None:
    raw = export_frame()
    raw.loc[2, "Created"] = "not a date"
    mapped = map_leads(raw, export_mapping(), POLICY)
    assert mapped.report.parse_failures == {canonical.CREATED_AT: 1, canonical.EMPLOYEES: 1}
    assert mapped.report.parse_examples[canonical.EMPLOYEES] == "n/a"
    assert mapped.report.parse_examples[canonical.CREATED_AT] == "not a date"


def test_status_maps_to_outcome_and_label_with_maturity_window() -> None:
    mapped = map_leads(export_frame(), export_mapping(), POLICY)
    leads = mapped.leads.set_index(canonical.LEAD_ID)
    # 104 and 105 were created within 30 days of the newest lead: immature, left out whatever their status.
    assert sorted(leads.index) == ["101", "102", "103"]
    assert leads[canonical.OUTCOME].to_dict() == {"101": "won", "102": "open", "103": "lost"}
    assert leads[canonical.LABEL].to_dict() == {"101": 1, "102": 0, "103": 0}  # old open -> lost
    assert leads[canonical.LABEL].dtype == np.int64
    assert mapped.report.dropped_immature == 2
    assert mapped.report.old_open_as_lost == 1


def test_drop_open_policy_keeps_young_closed_leads_and_old_open_can_be_dropped() -> None:
    policy = POLICY.model_copy(update={"immature": "drop_open", "old_open": "drop"})
    leads = map_leads(export_frame(), export_mapping(), policy).leads
    assert sorted(leads[canonical.LEAD_ID]) == ["101", "103", "105"]


def test_unknown_status_is_kept_with_outcome_unknown_for_validation_to_reject() -> None:
    raw = export_frame()
    raw.loc[0, "Stage"] = "Qualified?"
    mapped = map_leads(raw, export_mapping(), POLICY)
    leads = mapped.leads.set_index(canonical.LEAD_ID)
    assert leads.loc["101", canonical.OUTCOME] == OUTCOME_UNKNOWN
    assert pd.isna(leads.loc["101", canonical.LABEL])
    assert mapped.report.unknown_status_values == {"Qualified?": 1}


def test_numeric_status_values_match_config_strings() -> None:
    raw = export_frame().assign(Stage=[1.0, 0.0, 0.0, 1.0, 1.0])
    policy = LabelPolicy(won_values=["1"], lost_values=["0"], open_values=[], maturity_days=0)
    leads = map_leads(raw, export_mapping(), policy).leads
    assert leads[canonical.LABEL].tolist() == [1, 0, 0, 1, 1]


def test_missing_mapped_column_error_names_column_role_and_alternatives() -> None:
    with pytest.raises(SourceError) as error:
        map_leads(export_frame(), export_mapping(firmographic={"industry": "Vertical"}), POLICY)
    message = str(error.value)
    assert message.startswith(
        "mapped column 'Vertical' (role industry) not in export; available: Id, Created"
    )


def test_unlabeled_export_maps_without_status_or_closed_at() -> None:
    raw = export_frame().drop(columns=["Stage", "Closed"])
    leads = map_leads(raw, export_mapping(), POLICY, require_outcome=False).leads
    assert len(leads) == 5
    assert not {canonical.LABEL, canonical.OUTCOME} & set(leads.columns)
    with pytest.raises(SourceError, match="role status"):
        map_leads(raw, export_mapping(), POLICY)


def test_unlabeled_mode_never_drops_leads_even_when_status_is_present() -> None:
    leads = map_leads(export_frame(), export_mapping(), POLICY, require_outcome=False).leads
    assert len(leads) == 5
    assert canonical.LABEL not in leads.columns


def test_non_strict_mapping_fills_absent_feature_columns_with_missing() -> None:
    raw = export_frame().drop(columns=["Stage", "Closed", "Sector", "Time On Site"])
    leads = map_leads(raw, export_mapping(), POLICY, require_outcome=False, strict_columns=False).leads
    assert leads[canonical.INDUSTRY].isna().all()
    assert leads["xnum_time_on_site"].isna().all()


def test_order_by_synthesises_monotonic_created_at_and_skips_maturity() -> None:
    raw = export_frame().drop(columns=["Created"]).assign(Number=[5, 4, 3, 2, 1])
    mapping = export_mapping(created_at=None, order_by="Number", order_descending=True)
    mapped = map_leads(raw, mapping, POLICY)
    leads = mapped.leads
    assert mapped.report.synthetic_created_at
    assert leads[canonical.LEAD_ID].tolist() == [
        "101",
        "102",
        "103",
        "104",
        "105",
    ]  # descending number: 101 oldest
    assert leads[canonical.CREATED_AT].iloc[0] == SYNTHETIC_EPOCH
    assert leads[canonical.CREATED_AT].is_monotonic_increasing
    assert mapped.report.dropped_immature == 0


def test_join_with_indicator_marks_leads_found_in_the_second_table() -> None:
    leads = pd.DataFrame({"mql_id": ["a", "b", "c"], "first_contact": ["2020-01-01"] * 3})
    deals = pd.DataFrame({"mql_id": ["b"], "won_date": ["2020-02-01"], "segment": ["pet"]})
    spec = JoinSpec(path="deals.csv", on="mql_id", indicator_column="closed_deal")
    joined = apply_joins(leads, [deals], [spec])
    assert joined["closed_deal"].tolist() == [0, 1, 0]
    assert joined["segment"].tolist()[1] == "pet"
    assert len(joined) == 3


def test_join_with_duplicate_keys_is_refused() -> None:
    leads = pd.DataFrame({"k": ["a", "b"]})
    other = pd.DataFrame({"k": ["a", "a"], "v": [1, 2]})
    with pytest.raises(SourceError, match="not unique"):
        apply_joins(leads, [other], [JoinSpec(table="other", on="k")])


def test_sanitised_extra_names() -> None:
    assert sanitise_name("Total Time Spent on Website") == "total_time_spent_on_website"
    assert sanitise_name("Asymmetrique Activity Index ") == "asymmetrique_activity_index"


def test_activities_are_mapped_and_unreadable_rows_dropped_and_counted() -> None:
    raw = pd.DataFrame(
        {"who": [1, 1, 2], "when": ["2024-01-01", "garbage", "2024-01-02"], "what": ["a", "b", "c"]}
    )
    mapping = ActivityMapping(lead_id="who", occurred_at="when", activity_type="what")
    activities, report = map_activities(raw, mapping)
    assert list(activities.columns) == [
        canonical.ACTIVITY_LEAD_ID,
        canonical.ACTIVITY_AT,
        canonical.ACTIVITY_TYPE,
    ]
    assert activities[canonical.ACTIVITY_LEAD_ID].tolist() == ["1", "2"]
    assert report["dropped_unreadable"] == 1
    with pytest.raises(SourceError, match="mapped column 'when' \\(activity role occurred_at\\)"):
        map_activities(raw.drop(columns=["when"]), mapping)


def test_timezone_aware_timestamps_become_naive_utc() -> None:
    raw = export_frame()
    raw["Created"] = ["2024-01-01T10:00:00+02:00"] * 5
    leads = map_leads(raw, export_mapping(), POLICY.model_copy(update={"maturity_days": 0})).leads
    assert leads[canonical.CREATED_AT].iloc[0] == pd.Timestamp("2024-01-01 08:00:00")


@pytest.mark.parametrize("placeholder", ["9999-01-01", "0001-01-01"])
def test_out_of_range_activity_dates_are_unreadable_not_wrapped(placeholder: str) -> None:
    """A "no date" placeholder parses at microsecond resolution but is outside the nanosecond clock: left
    as a valid time it wrapped to 1815 downstream and counted as past activity."""
    when = pd.Series([pd.Timestamp("2024-01-01"), pd.Timestamp(placeholder)], dtype="datetime64[us]")
    for column in (when, when.astype("str")):  # as Parquet delivers it, and as CSV text
        raw = pd.DataFrame({"who": [1, 1], "when": column, "what": ["a", "b"]})
        mapping = ActivityMapping(lead_id="who", occurred_at="when", activity_type="what")
        activities, report = map_activities(raw, mapping)
        assert activities[canonical.ACTIVITY_TYPE].tolist() == ["a"]
        assert report["parse_failures"] == {canonical.ACTIVITY_AT: 1}
        assert report["parse_examples"][canonical.ACTIVITY_AT].startswith(placeholder)


def test_parse_failures_record_the_export_row_of_their_example() -> None:
    raw = export_frame()
    raw.loc[3, "Created"] = "notadate"
    mapped = map_leads(raw, export_mapping(), POLICY, require_outcome=False)
    assert mapped.report.parse_failures[canonical.CREATED_AT] == 1
    assert mapped.report.parse_example_rows[canonical.CREATED_AT] == 3
    assert mapped.report.parse_example_rows["employees"] == 1  # "n/a"


def test_maturity_is_judged_against_the_pull_time_not_the_newest_created_at() -> None:
    """One bogus future created_at used to become the reference and make every open lead old, so lost."""
    raw = export_frame()
    raw.loc[4, "Created"] = "2262-01-01"
    pulled_at = pd.Timestamp("2024-07-05")
    leads = map_leads(raw, export_mapping(), POLICY, reference_time=pulled_at).leads.set_index(
        canonical.LEAD_ID
    )
    assert "104" not in leads.index  # open and 10 days old at the pull: immature, left out
    assert leads.loc["102", canonical.LABEL] == 0  # open and half a year old: lost
    explicit = POLICY.model_copy(update={"reference_time": "2024-01-10"})  # configured: wins over the pull
    young = map_leads(raw, export_mapping(), explicit, reference_time=pulled_at).leads[canonical.LEAD_ID]
    assert "102" not in set(young)


def test_leads_created_after_a_pinned_reference_time_are_counted_not_silently_dropped() -> None:
    raw = export_frame()
    raw.loc[3, "Created"] = "2024-09-01"  # after the export was taken: impossible
    raw.loc[4, "Created"] = "2025-01-01"
    pinned = POLICY.model_copy(update={"reference_time": "2024-07-05"})
    mapped = map_leads(raw, export_mapping(), pinned)
    assert mapped.report.created_after_reference == 2
    assert mapped.report.created_after_reference_examples == ["2024-09-01 00:00:00", "2025-01-01 00:00:00"]
    assert {"104", "105"}.isdisjoint(mapped.leads[canonical.LEAD_ID])
    assert mapped.report.as_dict()["created_after_reference"] == 2  # reaches pull_summary.json


def test_unmatched_status_values_are_listed_with_their_counts(caplog: pytest.LogCaptureFixture) -> None:
    raw = export_frame()
    raw["Stage"] = ["Closed-Won", "Open", "Closed-Won", "Open", "Nurture"]
    with caplog.at_level("WARNING", logger="leadscore.crm.mapping"):
        mapped = map_leads(raw, export_mapping(), POLICY)
    assert mapped.report.unknown_status_values == {"Closed-Won": 2, "Nurture": 1}
    assert "'Closed-Won' (2), 'Nurture' (1)" in caplog.text
    assert "won ['Closed Won']" in caplog.text
