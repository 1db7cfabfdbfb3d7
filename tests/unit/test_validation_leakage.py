"""Leakage detector on frames with planted leaks, on clean frames and on the simulator's default data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.core.params import LeakageParams
from leadscore.validation.leakage import candidate_feature_columns, detect_leakage
from tests.validation_fixtures import make_activities, make_leads

PARAMS = LeakageParams()


def _by_name(suspects: list) -> dict:
    return {s.name: s for s in suspects}


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return make_leads(2000, seed=3)


def test_clean_frame_has_no_leak_suspects(clean: pd.DataFrame) -> None:
    assert detect_leakage(clean, make_activities(clean), PARAMS) == []


def test_noisy_numeric_copy_of_label_is_flagged_with_its_auc(clean: pd.DataFrame) -> None:
    rng = np.random.default_rng(1)
    leads = clean.assign(xnum_deal_score=clean["label"] * 2.0 + rng.normal(0, 0.5, len(clean)))
    suspect = _by_name(detect_leakage(leads, None, PARAMS))["xnum_deal_score"]
    assert suspect.kind == "single_column_auc"
    assert suspect.fails_gate
    assert suspect.metrics["auc"] > 0.95
    assert "rank AUC of the value" in suspect.evidence


def test_reversed_numeric_copy_of_label_is_flagged_too(clean: pd.DataFrame) -> None:
    leads = clean.assign(xnum_days_to_lose=np.where(clean["label"] == 1, 0.0, 50.0))
    assert "xnum_days_to_lose" in _by_name(detect_leakage(leads, None, PARAMS))


def test_categorical_copy_of_label_is_flagged_by_out_of_fold_encoding(clean: pd.DataFrame) -> None:
    rng = np.random.default_rng(2)
    flip = rng.random(len(clean)) < 0.05
    stage = np.where((clean["label"] == 1) ^ flip, "Closed by rep", "Ringing")
    suspect = _by_name(detect_leakage(clean.assign(xcat_tags=stage), None, PARAMS))["xcat_tags"]
    assert suspect.kind == "single_column_auc"
    assert "out-of-fold target-mean AUC 0.9" in suspect.evidence


def test_unique_id_like_column_is_not_mistaken_for_a_leak(clean: pd.DataFrame) -> None:
    # In-sample target encoding of a unique id is a perfect predictor; out-of-fold it carries nothing.
    leads = clean.assign(xcat_reference=[f"ref-{i}" for i in range(len(clean))])
    assert detect_leakage(leads, None, PARAMS) == []


def test_column_filled_only_for_won_leads_is_flagged(clean: pd.DataFrame) -> None:
    rng = np.random.default_rng(4)
    segment = np.where(clean["label"] == 1, rng.choice(["pet", "car", "home"], len(clean)), None)
    suspect = _by_name(detect_leakage(clean.assign(xcat_business_segment=segment), None, PARAMS))[
        "xcat_business_segment"
    ]
    assert "filled for 100% of won vs 0% of lost leads" in suspect.evidence


def test_rarely_filled_column_present_only_for_won_is_flagged_by_purity(clean: pd.DataFrame) -> None:
    # Filled for 15% of won leads only: the fill-rate gap (0.15) and AUC stay low, presence alone is the leak.
    rng = np.random.default_rng(5)
    filled = (clean["label"] == 1) & (rng.random(len(clean)) < 0.15)
    leads = clean.assign(xnum_declared_catalog=np.where(filled, rng.uniform(1, 100, len(clean)), np.nan))
    suspect = _by_name(detect_leakage(leads, None, PARAMS))["xnum_declared_catalog"]
    assert suspect.kind == "fill_rate"
    assert "100.0% of them won" in suspect.evidence


def test_partly_filled_predictive_column_is_flagged_as_sales_entered(clean: pd.DataFrame) -> None:
    # Like X Education's "Lead Quality": more often filled for won leads, its values lean with the outcome.
    rng = np.random.default_rng(6)
    won = clean["label"].to_numpy() == 1
    filled = rng.random(len(clean)) < np.where(won, 0.7, 0.35)
    lean = rng.random(len(clean)) < 0.85
    value = np.where(won == lean, "High in Relevance", "Worst")
    leads = clean.assign(xcat_lead_quality=np.where(filled, value, None))
    suspect = _by_name(detect_leakage(leads, None, PARAMS))["xcat_lead_quality"]
    assert suspect.kind == "fill_and_auc"
    assert 0.75 < suspect.metrics["auc"] < 0.85  # neither rule alone would fire
    assert "looks filled in by sales after contact" in suspect.evidence


def test_form_field_filled_more_often_by_buyers_is_not_a_leak(clean: pd.DataFrame) -> None:
    # Like X Education's occupation: converters fill the form more often, but the values carry little signal.
    rng = np.random.default_rng(7)
    won = clean["label"].to_numpy() == 1
    filled = rng.random(len(clean)) < np.where(won, 0.8, 0.5)
    value = rng.choice(["student", "professional", "other"], len(clean))
    assert detect_leakage(clean.assign(xcat_occupation=np.where(filled, value, None)), None, PARAMS) == []


def test_timestamp_after_close_is_flagged(clean: pd.DataFrame) -> None:
    signed = (clean["closed_at"] + pd.Timedelta(days=2)).dt.strftime("%Y-%m-%d %H:%M:%S")
    suspect = _by_name(detect_leakage(clean.assign(xcat_contract_date=signed), None, PARAMS))[
        "xcat_contract_date"
    ]
    assert suspect.kind == "post_outcome_timestamp"
    assert "100% of 2,000 values are at/after closed_at" in suspect.evidence


def test_timestamp_before_creation_is_not_flagged(clean: pd.DataFrame) -> None:
    visit = (clean["created_at"] - pd.Timedelta(days=10)).dt.strftime("%Y-%m-%d")
    assert detect_leakage(clean.assign(xcat_first_visit=visit), None, PARAMS) == []


def test_allowed_column_is_reported_but_does_not_fail_the_gate(clean: pd.DataFrame) -> None:
    leads = clean.assign(xnum_deal_size=np.where(clean["label"] == 1, 5000.0, 0.0))
    suspect = _by_name(detect_leakage(leads, None, PARAMS, allow=["Deal Size"]))["xnum_deal_size"]
    assert suspect.allowed
    assert not suspect.fails_gate


def _post_close_events(leads: pd.DataFrame, offset: pd.Timedelta, base: str) -> pd.DataFrame:
    won = leads[leads["label"] == 1]
    return pd.DataFrame(
        {
            "lead_id": won["lead_id"].to_numpy(),
            "occurred_at": (won[base] + offset).to_numpy(),
            "activity_type": "contract_signed",
        }
    )


def test_post_outcome_activity_type_after_as_of_is_only_a_warning(clean: pd.DataFrame) -> None:
    activities = pd.concat(
        [make_activities(clean), _post_close_events(clean, pd.Timedelta(days=1), "closed_at")],
        ignore_index=True,
    )
    suspect = _by_name(detect_leakage(clean, activities, PARAMS))["activity:contract_signed"]
    assert suspect.kind == "post_outcome_activity"
    assert not suspect.blocking
    assert suspect.metrics["share_after_closed_at"] == 1.0


def test_won_only_activity_type_before_as_of_fails_the_gate(clean: pd.DataFrame) -> None:
    activities = pd.concat(
        [make_activities(clean), _post_close_events(clean, pd.Timedelta(days=1), "created_at")],
        ignore_index=True,
    )
    suspect = _by_name(detect_leakage(clean, activities, PARAMS, as_of_offset_days=14))[
        "activity:contract_signed"
    ]
    assert suspect.fails_gate
    assert "100% of its" in suspect.evidence
    assert "reach the features" in suspect.evidence


def test_outcome_columns_and_ids_are_never_candidates() -> None:
    columns = [
        "lead_id",
        "label",
        "outcome",
        "status",
        "closed_at",
        "true_p",
        "created_at",
        "industry",
        "xnum_a",
    ]
    assert candidate_feature_columns(columns) == ["industry", "xnum_a"]


def test_detector_stays_silent_when_a_class_is_too_small(clean: pd.DataFrame) -> None:
    few_won = clean.assign(label=0).copy()
    few_won.loc[:4, "label"] = 1
    leaky = few_won.assign(xnum_copy=few_won["label"].astype(float))
    assert detect_leakage(leaky, None, PARAMS) == []


def test_simulated_default_data_has_no_blocking_suspects() -> None:
    from leadscore.core.params import ActivityMapping, Params, SimulateParams
    from leadscore.crm.mapping import map_activities, map_leads
    from leadscore.crm.simulator import simulate_crm

    params = Params()
    export = simulate_crm(SimulateParams(n_leads=4000), seed=11, as_of_offset_days=14)
    mapping = params.source.mapping.model_copy(
        update={
            "firmographic": {
                r: r for r in ("industry", "employees", "annual_revenue", "country", "founded_year")
            },
            "bant": {r: r for r in ("budget_status", "contact_title", "need", "purchase_timeframe")},
            "lead_source": "lead_source",
            "true_p": "true_p",
        }
    )
    leads = map_leads(export.leads, mapping, params.source.label).leads
    activities, _ = map_activities(export.activities, ActivityMapping())
    suspects = detect_leakage(leads, activities, PARAMS, as_of_offset_days=14)
    assert [s.line() for s in suspects if s.fails_gate] == []
    # The simulator's post-close types are found, as information.
    assert {"activity:contract_signed", "activity:invoice_paid"} <= {s.name for s in suspects}
