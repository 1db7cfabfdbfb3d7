"""The one-lead fast path gives the batch path's numbers: single-row LightGBM, per-lead scoring, logging.

``score_records`` on one lead takes shortcuts that ``score`` on a DataFrame never does (LightGBM's fast
single-row predictor, Python-level value conversion for the log). These tests pin them to the batch path on
real leads and on the edge cases an API sees: missing values everywhere, categories never seen in training,
leads without any activity, negative-looking input refused.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.build import build_features, leads_from_frame
from features.intent import activity_columns
from leadscore import schema
from models.bundle import ScoringBundle
from models.single_row import SingleRowPredictor
from tests.serving_fixtures import (  # noqa: F401 - fixtures
    LiveLeads,
    live_leads_fixture,
    tiny_bundle_dir_fixture,
    tiny_bundle_fixture,
)


def model_matrix(bundle: ScoringBundle, leads: pd.DataFrame, activities: pd.DataFrame | None) -> np.ndarray:
    batch = build_features(leads_from_frame(leads, bundle.spec), bundle.spec, activity_columns(activities))
    return np.ascontiguousarray(bundle.transformer.transform(batch.features))


def edge_leads(live_leads: LiveLeads) -> pd.DataFrame:
    """Real leads plus the awkward ones: everything missing, unseen categories, zero and huge numbers."""
    base = live_leads.leads.iloc[:30].copy()
    roles = [c for c in schema.ROLE_COLUMNS if c in base.columns]
    empty = base.iloc[:3].copy()
    empty[roles] = None
    empty[schema.LEAD_ID] = ["E-MISSING-1", "E-MISSING-2", "E-MISSING-3"]
    unseen = base.iloc[3:6].copy()
    text_roles = [c for c in roles if not pd.api.types.is_numeric_dtype(base[c])]
    assert text_roles
    unseen[text_roles] = "never seen in training"
    unseen[schema.LEAD_ID] = ["E-UNSEEN-1", "E-UNSEEN-2", "E-UNSEEN-3"]
    extreme = base.iloc[6:8].copy()
    for column in (schema.EMPLOYEES, schema.ANNUAL_REVENUE):
        if column in extreme.columns:
            extreme[column] = [0.0, 1e12]
    extreme[schema.LEAD_ID] = ["E-EXTREME-1", "E-EXTREME-2"]
    return pd.concat([base, empty, unseen, extreme], ignore_index=True)


def test_single_row_predictor_gives_the_boosters_margins_bit_for_bit(
    tiny_bundle: ScoringBundle, live_leads: LiveLeads
) -> None:
    X = model_matrix(tiny_bundle, edge_leads(live_leads), live_leads.activities)
    rng = np.random.default_rng(7)
    holes = X.copy()
    holes[rng.random(X.shape) < 0.3] = np.nan  # missing values in every column
    noise = rng.normal(0.0, 1e3, size=(50, X.shape[1]))  # values far outside anything seen
    predictor = SingleRowPredictor(tiny_bundle.booster)
    for matrix in (X, holes, noise):
        expected = tiny_bundle.booster.predict(matrix, raw_score=True)
        assert np.array_equal(predictor.predict(matrix), expected)
    with pytest.raises(ValueError, match="columns"):
        predictor.predict(X[:, :-1])


def test_one_lead_at_a_time_scores_like_the_batch_on_edge_cases(
    tiny_bundle: ScoringBundle, live_leads: LiveLeads
) -> None:
    leads = edge_leads(live_leads)
    activities = live_leads.activities[live_leads.activities[schema.LEAD_ID].isin(leads[schema.LEAD_ID])]
    expected = tiny_bundle.score(leads, activities).set_index(schema.LEAD_ID)
    by_lead = {k: g.to_dict(orient="records") for k, g in activities.groupby(schema.ACTIVITY_LEAD_ID)}
    records = leads.to_dict(orient="records")
    assert any(r[schema.LEAD_ID] not in by_lead for r in records)  # some leads have no activity at all
    for record in records:
        [one] = tiny_bundle.score_records([record], by_lead.get(record[schema.LEAD_ID], []))
        row = expected.loc[one[schema.LEAD_ID]]
        assert one["probability"] == row["probability"]
        assert (one["score"], one["band"], one["is_mql"], one["is_sql"]) == (
            row["score"],
            row["band"],
            row["is_mql"],
            row["is_sql"],
        )
        assert one["reasons_positive"] == row["reasons_positive"]
        assert one["reasons_negative"] == row["reasons_negative"]
        assert one["features_hash"] == row["features_hash"]


def test_logged_features_are_the_built_features_with_nan_as_none(
    tiny_bundle: ScoringBundle, live_leads: LiveLeads
) -> None:
    leads = edge_leads(live_leads)
    activities = live_leads.activities[live_leads.activities[schema.LEAD_ID].isin(leads[schema.LEAD_ID])]
    spec = tiny_bundle.spec
    batch = build_features(leads_from_frame(leads, spec), spec, activity_columns(activities))
    records = leads.to_dict(orient="records")
    many = tiny_bundle.score_records(records, activities.to_dict(orient="records"), with_features=True)
    assert len(many) > 8  # the columnar conversion
    for i, out in enumerate(many):
        one = tiny_bundle.score_records(
            [records[i]],
            activities[activities[schema.LEAD_ID] == records[i][schema.LEAD_ID]].to_dict(orient="records"),
            with_features=True,
        )[0]  # the per-value conversion of one lead
        assert one["features"] == out["features"]
        assert list(out["features"]) == tiny_bundle.feature_names
        for name, value in out["features"].items():
            raw = batch.features[name][i]
            if raw is None or (isinstance(raw, float) and math.isnan(raw)):
                assert value is None, name
            else:
                assert value == raw, name
                assert not isinstance(value, np.generic), name
    assert any(v is None for out in many for v in out["features"].values())  # the edge leads have gaps


def test_a_bundle_that_used_the_fast_path_still_pickles_and_reloads(
    tiny_bundle: ScoringBundle, live_leads: LiveLeads, tmp_path: Path
) -> None:
    record = live_leads.leads.iloc[:1].to_dict(orient="records")
    before = tiny_bundle.score_records(record)[0]["probability"]
    assert "_single_row" in tiny_bundle.__dict__  # the fast path ran and holds a C handle
    copy = pickle.loads(pickle.dumps(tiny_bundle))
    assert "_single_row" not in copy.__dict__
    assert copy.score_records(record)[0]["probability"] == before
    reloaded = ScoringBundle.load(tiny_bundle.save(tmp_path / "bundle"))
    assert reloaded.version == tiny_bundle.version
    assert reloaded.score_records(record)[0]["probability"] == before
