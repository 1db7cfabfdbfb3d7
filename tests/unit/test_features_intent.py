import numpy as np
import pandas as pd
import pytest

from leadscore.core.errors import SchemaError
from leadscore.features.build import build_features, leads_from_frame, leads_from_records
from leadscore.features.intent import (
    activity_columns,
    activity_type_vocabulary,
    sanitize_activity_type,
    types_before_as_of,
)
from leadscore.features.spec import infer_spec

CREATED = pd.Timestamp("2024-03-01 12:00:00")
AS_OF = CREATED + pd.Timedelta(days=14)


def _spec(types: list[str] | None = ("demo_request", "email_open")):  # type: ignore[assignment]
    return infer_spec(
        ["lead_id", "created_at", "industry"],
        activity_types=None if types is None else list(types),
        intent_windows_days=[7, 30],
        decay_half_life_days=14.0,
        as_of_offset_days=14,
    )


def _leads(n: int = 1) -> pd.DataFrame:
    return pd.DataFrame(
        {"lead_id": [f"L{i}" for i in range(n)], "created_at": [CREATED] * n, "industry": ["Software"] * n}
    )


def _events(*rows: tuple[str, pd.Timestamp, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["lead_id", "occurred_at", "activity_type"])


def _intent(leads: pd.DataFrame, events: pd.DataFrame | None, spec=None, **kw) -> dict[str, np.ndarray]:  # noqa: ANN001
    spec = spec or _spec()
    return build_features(leads_from_frame(leads, spec), spec, activity_columns(events), **kw).features


def test_intent_ignores_events_at_or_after_as_of() -> None:
    events = _events(
        ("L0", AS_OF - pd.Timedelta(seconds=1), "demo_request"),  # counts: strictly before as_of
        ("L0", AS_OF, "demo_request"),  # at as_of: does not exist yet at the scoring moment
        ("L0", AS_OF + pd.Timedelta(days=3), "demo_request"),
        ("L0", AS_OF + pd.Timedelta(days=3), "email_open"),
    )
    f = _intent(_leads(), events)
    assert f["intent_demo_request_7d"][0] == 1.0
    assert f["intent_email_open_30d"][0] == 0.0
    assert f["intent_total"][0] == 1.0
    assert f["intent_days_since_last"][0] == pytest.approx(1 / 86400)


def test_far_future_as_of_lets_later_events_in() -> None:
    events = _events(("L0", AS_OF + pd.Timedelta(days=3), "demo_request"))
    f = _intent(_leads(), events, as_of=pd.Timestamp("2100-01-01"))
    assert f["intent_total"][0] == 1.0


def test_window_counts_recency_and_half_life_decay() -> None:
    events = _events(
        ("L0", AS_OF - pd.Timedelta(days=14), "email_open"),  # exactly one half-life old, inside 30d window
        ("L0", AS_OF - pd.Timedelta(days=40), "email_open"),  # outside both windows, still in the total
    )
    f = _intent(_leads(), events)
    assert f["intent_email_open_7d"][0] == 0.0
    assert f["intent_email_open_30d"][0] == 1.0
    assert f["intent_total"][0] == 2.0
    assert f["intent_days_since_last"][0] == pytest.approx(14.0)
    assert f["intent_engagement_decayed"][0] == pytest.approx(0.5 + 0.5 ** (40 / 14))


def test_lead_without_events_has_zero_counts_and_unknown_recency() -> None:
    f = _intent(_leads(2), _events(("L1", AS_OF - pd.Timedelta(days=1), "demo_request")))
    assert f["intent_total"].tolist() == [0.0, 1.0]
    assert np.isnan(f["intent_days_since_last"][0])
    assert f["intent_engagement_decayed"][0] == 0.0


def test_unknown_activity_type_at_scoring_counts_as_other() -> None:
    events = _events(
        ("L0", AS_OF - pd.Timedelta(days=1), "Webinar Registered!"),
        ("L0", AS_OF - pd.Timedelta(days=2), None),
    )
    f = _intent(_leads(), events)
    assert f["intent_other_7d"][0] == 2.0
    assert f["intent_demo_request_7d"][0] == 0.0


def test_rare_activity_types_are_pooled_into_other_in_the_vocabulary() -> None:
    types = np.array(["demo_request"] * 60 + ["Email Open"] * 50 + ["fax_received"] * 3, dtype=object)
    assert activity_type_vocabulary(types, min_count=50) == ["demo_request", "email_open"]
    assert sanitize_activity_type("Pricing Page / View") == "pricing_page_view"
    assert sanitize_activity_type("  ") == "other"


def test_vocabulary_counts_only_events_before_as_of() -> None:
    log = activity_columns(
        _events(
            ("L0", AS_OF - pd.Timedelta(days=1), "email_open"),
            ("L0", AS_OF + pd.Timedelta(days=1), "contract_signed"),
        )
    )
    kept = types_before_as_of(np.array(["L0"], dtype=object), np.array([AS_OF.value]), log)
    assert kept.tolist() == ["email_open"]


def test_pre_aggregated_intent_columns_are_used_without_an_activity_log() -> None:
    leads = _leads()
    leads["intent_demo_request_30d"] = [2]
    leads["intent_days_since_last"] = [3.5]
    f = _intent(leads, None)
    assert f["intent_demo_request_30d"][0] == 2.0
    assert f["intent_demo_request_7d"][0] == 0.0  # not sent: no such events
    assert f["intent_total"][0] == 2.0  # sum of the widest window's counts
    assert f["intent_days_since_last"][0] == 3.5
    assert f["intent_engagement_decayed"][0] == 0.0


def test_a_leads_pre_aggregated_intent_does_not_depend_on_the_other_leads_in_its_batch() -> None:
    """L0 sends no total, L1 does: L0's total is its counts' sum alone and beside L1 (API micro-batches)."""
    alone = _leads(1)
    alone["intent_demo_request_30d"] = [2.0]
    beside = _leads(2)
    beside["intent_demo_request_30d"] = [2.0, 1.0]
    beside["intent_total"] = [None, 7.0]
    beside["intent_days_since_last"] = [None, 4.0]
    f_alone, f_beside = _intent(alone, None), _intent(beside, None)
    for name, values in f_alone.items():
        np.testing.assert_array_equal(f_beside[name][:1], values, err_msg=name)
    assert f_beside["intent_total"].tolist() == [2.0, 7.0]
    assert np.isnan(f_beside["intent_days_since_last"][0])


def test_pre_aggregated_intent_must_not_be_negative() -> None:
    leads = _leads()
    leads["intent_total"] = [-1]
    with pytest.raises(SchemaError, match="intent_total"):
        _intent(leads, None)


def test_activity_log_without_a_required_column_names_it() -> None:
    with pytest.raises(SchemaError, match="occurred_at"):
        activity_columns(pd.DataFrame({"lead_id": ["L0"], "activity_type": ["x"]}))
    with pytest.raises(SchemaError, match="activity_type"):
        activity_columns([{"lead_id": "L0", "occurred_at": "2024-01-01"}])


def test_duplicate_lead_ids_with_an_activity_log_are_a_schema_error() -> None:
    leads = pd.concat([_leads(), _leads()], ignore_index=True)
    with pytest.raises(SchemaError, match="unique"):
        _intent(leads, _events(("L0", AS_OF - pd.Timedelta(days=1), "email_open")))


def test_records_and_frames_give_the_same_intent() -> None:
    spec = _spec()
    events = _events(
        ("L0", AS_OF - pd.Timedelta(days=2), "demo_request"),
        ("L1", AS_OF - pd.Timedelta(days=20), "email_open"),
    )
    leads = _leads(2)
    from_frame = build_features(leads_from_frame(leads, spec), spec, activity_columns(events)).features
    from_records = build_features(
        leads_from_records(leads.to_dict("records"), spec), spec, activity_columns(events.to_dict("records"))
    ).features
    for name in spec.intent_feature_names:
        np.testing.assert_array_equal(from_frame[name], from_records[name])


def test_spec_without_activity_log_has_no_intent_features() -> None:
    assert _spec(None).intent_feature_names == []
