"""The simulated CRM: determinism, realistic rates, Bayes-optimal true_p, drift and the leakage trap."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from leadscore.core import canonical
from leadscore.core.params import SimulateParams
from leadscore.crm.simulator import (
    ACTIVITY_TYPES,
    POST_OUTCOME_TYPES,
    SimulatedExport,
    export_time,
    simulate_crm,
)

OFFSET = 14


@pytest.fixture(scope="module")
def export() -> SimulatedExport:
    return simulate_crm(SimulateParams(n_leads=20_000), seed=7, as_of_offset_days=OFFSET)


@pytest.fixture(scope="module")
def closed(export: SimulatedExport) -> pd.DataFrame:
    leads = export.leads
    return leads[leads[canonical.STATUS] != canonical.OUTCOME_OPEN].reset_index(drop=True)


def test_same_seed_gives_identical_frames_and_another_seed_does_not() -> None:
    params = SimulateParams(n_leads=1_000, days=365)
    first = simulate_crm(params, seed=3, as_of_offset_days=OFFSET)
    second = simulate_crm(params, seed=3, as_of_offset_days=OFFSET)
    other = simulate_crm(params, seed=4, as_of_offset_days=OFFSET)
    pd.testing.assert_frame_equal(first.leads, second.leads)
    pd.testing.assert_frame_equal(first.activities, second.activities)
    assert not np.allclose(first.leads[canonical.TRUE_P], other.leads[canonical.TRUE_P])


def test_export_has_the_canonical_columns_and_fake_pii(export: SimulatedExport) -> None:
    expected = {
        canonical.LEAD_ID, canonical.CREATED_AT, canonical.CLOSED_AT, canonical.STATUS,
        canonical.FIRST_CONTACT_AT,
        *canonical.ROLE_COLUMNS, canonical.TRUE_P, *canonical.PII_COLUMNS,
    }  # fmt: skip
    assert set(export.leads.columns) == expected
    assert list(export.activities.columns) == [
        canonical.ACTIVITY_LEAD_ID,
        canonical.ACTIVITY_AT,
        canonical.ACTIVITY_TYPE,
    ]
    assert export.leads[canonical.LEAD_ID].is_unique
    assert export.leads["email"].str.contains("@").all()
    assert set(export.activities[canonical.ACTIVITY_TYPE].unique()) <= set(ACTIVITY_TYPES)


def test_base_rate_and_bayes_auc_on_newest_leads_are_realistic(closed: pd.DataFrame) -> None:
    label = (closed[canonical.STATUS] == canonical.OUTCOME_WON).to_numpy()
    newest = closed.iloc[int(0.85 * len(closed)) :]
    bayes_auc = roc_auc_score(newest[canonical.STATUS] == canonical.OUTCOME_WON, newest[canonical.TRUE_P])
    assert 0.12 <= label.mean() <= 0.20
    assert 0.80 <= bayes_auc <= 0.87


def test_labels_are_calibrated_to_true_p_in_every_decile(closed: pd.DataFrame) -> None:
    label = (closed[canonical.STATUS] == canonical.OUTCOME_WON).astype(float)
    decile = pd.qcut(closed[canonical.TRUE_P], 10, labels=False)
    by_decile = pd.DataFrame({"y": label, "p": closed[canonical.TRUE_P], "d": decile}).groupby("d")
    observed, expected, count = by_decile.y.mean(), by_decile.p.mean(), by_decile.size()
    standard_error = np.sqrt(expected * (1 - expected) / count)
    assert (np.abs(observed - expected) < 4 * standard_error + 0.005).all()


def test_calibration_holds_in_the_last_year_despite_drift(closed: pd.DataFrame) -> None:
    last_year = closed[
        closed[canonical.CREATED_AT] >= closed[canonical.CREATED_AT].max() - pd.Timedelta(days=365)
    ]
    label = (last_year[canonical.STATUS] == canonical.OUTCOME_WON).mean()
    standard_error = np.sqrt(label * (1 - label) / len(last_year))
    assert abs(label - last_year[canonical.TRUE_P].mean()) < 4 * standard_error


def test_industry_and_source_mix_drift_between_first_and_last_year(export: SimulatedExport) -> None:
    leads = export.leads
    year = leads[canonical.CREATED_AT].dt.year
    first, last = leads[year == year.min()], leads[year == year.max()]
    for column in (canonical.INDUSTRY, canonical.LEAD_SOURCE):
        share_first = first[column].value_counts(normalize=True)
        share_last = last[column].value_counts(normalize=True)
        total_variation = 0.5 * share_first.sub(share_last, fill_value=0).abs().sum()
        assert total_variation > 0.08, column
    no_drift = simulate_crm(
        SimulateParams(n_leads=20_000, drift_strength=0.0), seed=7, as_of_offset_days=OFFSET
    )
    year0 = no_drift.leads[canonical.CREATED_AT].dt.year
    a = no_drift.leads.loc[year0 == year0.min(), canonical.INDUSTRY].value_counts(normalize=True)
    b = no_drift.leads.loc[year0 == year0.max(), canonical.INDUSTRY].value_counts(normalize=True)
    assert 0.5 * a.sub(b, fill_value=0).abs().sum() < 0.04


def test_post_close_activities_only_for_won_leads_and_after_closed_at(export: SimulatedExport) -> None:
    acts = export.activities.merge(
        export.leads[[canonical.LEAD_ID, canonical.STATUS, canonical.CLOSED_AT]], on="lead_id"
    )
    post = acts[acts[canonical.ACTIVITY_TYPE].isin(POST_OUTCOME_TYPES)]
    assert len(post) > 1000
    assert (post[canonical.STATUS] == canonical.OUTCOME_WON).all()
    assert (post[canonical.ACTIVITY_AT] > post[canonical.CLOSED_AT]).all()


def test_open_leads_are_recent_and_have_no_activity_from_the_future(export: SimulatedExport) -> None:
    leads = export.leads
    open_leads = leads[leads[canonical.STATUS] == canonical.OUTCOME_OPEN]
    assert len(open_leads) > 0
    assert open_leads[canonical.CLOSED_AT].isna().all()
    assert (open_leads[canonical.CREATED_AT] >= export.export_time - pd.Timedelta(days=60)).all()
    acts = export.activities
    assert (acts[canonical.ACTIVITY_AT] < export.export_time).all()
    open_acts = acts[acts[canonical.ACTIVITY_LEAD_ID].isin(open_leads[canonical.LEAD_ID])]
    assert not open_acts[canonical.ACTIVITY_TYPE].isin(POST_OUTCOME_TYPES).any()


def test_sales_cycle_always_ends_after_the_scoring_moment(closed: pd.DataFrame) -> None:
    cycle = closed[canonical.CLOSED_AT] - closed[canonical.CREATED_AT]
    assert (cycle > pd.Timedelta(days=OFFSET)).all()
    assert (cycle <= pd.Timedelta(days=200)).all()
    won = closed[canonical.STATUS] == canonical.OUTCOME_WON
    assert cycle[won].median() > cycle[~won].median()


def test_features_without_point_in_time_filter_beat_the_bayes_limit(
    export: SimulatedExport, closed: pd.DataFrame
) -> None:
    """The leakage trap: counting sales-stage activity after as_of 'predicts' the outcome beyond true_p."""
    label = closed[canonical.STATUS] == canonical.OUTCOME_WON
    acts = export.activities
    stage = acts[acts[canonical.ACTIVITY_TYPE].isin(["proposal_viewed", "meeting_booked"])]
    all_time = (
        stage.groupby(canonical.ACTIVITY_LEAD_ID).size().reindex(closed[canonical.LEAD_ID], fill_value=0)
    )
    bayes_auc = roc_auc_score(label, closed[canonical.TRUE_P])
    assert roc_auc_score(label, all_time.to_numpy()) > bayes_auc + 0.05
    as_of = closed.set_index(canonical.LEAD_ID)[canonical.CREATED_AT] + pd.Timedelta(days=OFFSET)
    before = stage[stage[canonical.ACTIVITY_AT] < stage[canonical.ACTIVITY_LEAD_ID].map(as_of)]
    point_in_time = (
        before.groupby(canonical.ACTIVITY_LEAD_ID).size().reindex(closed[canonical.LEAD_ID], fill_value=0)
    )
    assert roc_auc_score(label, point_in_time.to_numpy()) < bayes_auc


def test_intent_activity_raises_true_p(export: SimulatedExport) -> None:
    leads = export.leads.set_index(canonical.LEAD_ID)
    acts = export.activities
    as_of = acts[canonical.ACTIVITY_LEAD_ID].map(leads[canonical.CREATED_AT] + pd.Timedelta(days=OFFSET))
    demo = acts[(acts[canonical.ACTIVITY_TYPE] == "demo_request") & (acts[canonical.ACTIVITY_AT] < as_of)]
    has_demo = leads.index.isin(demo[canonical.ACTIVITY_LEAD_ID])
    assert leads.loc[has_demo, canonical.TRUE_P].mean() > 1.5 * leads.loc[~has_demo, canonical.TRUE_P].mean()


def test_enrichment_is_missing_more_often_for_small_companies(export: SimulatedExport) -> None:
    leads = export.leads
    missing_industry = leads[canonical.INDUSTRY].isna()
    small = leads[canonical.EMPLOYEES] < 50
    large = leads[canonical.EMPLOYEES] > 1000
    assert missing_industry[small].mean() > 2 * missing_industry[large].mean()
    assert 0.05 < leads[canonical.EMPLOYEES].isna().mean() < 0.25


def test_contact_titles_are_varied_free_text_with_recoverable_seniority(export: SimulatedExport) -> None:
    titles = export.leads[canonical.CONTACT_TITLE].dropna()
    assert titles.nunique() > 200
    lowered = titles.str.lower()
    for pattern in (r"^vp\b", r"^chief ", r"^cto$", r"^head of ", r"^dir\. ", r"intern", r"^sr\. manager, "):
        assert lowered.str.contains(pattern).any(), pattern
    generic = re.compile(
        r"\b(chief|ceo|cto|cfo|coo|cmo|cio|cro|founder|president|owner|vp|v\.p\.|vice president|svp|evp|"
        r"director|dir\.|head|manager|mgr|lead|intern|student|candidate)\b"
    )
    recognised = lowered.map(lambda t: bool(generic.search(t)))
    assert recognised.mean() > 0.6  # the rest are individual contributors (no seniority keyword)


def test_default_simulation_has_fifty_thousand_leads_all_dated_before_its_own_export_time() -> None:
    """The pull stage takes ``export_time(params)`` as the pull time of simulated data (the maturity reference
    and the validate gate's latest plausible timestamp), so no simulated time may lie after it. Generation
    speed is measured in benchmarks/, not asserted here."""
    params = SimulateParams()
    export = simulate_crm(params, seed=42, as_of_offset_days=OFFSET)
    assert len(export.leads) == 50_000
    assert export.export_time == export_time(params)
    for column in (canonical.CREATED_AT, canonical.CLOSED_AT, canonical.FIRST_CONTACT_AT):
        assert (export.leads[column].dropna() <= export.export_time).all(), column
    assert (export.activities[canonical.ACTIVITY_AT] <= export.export_time).all()
