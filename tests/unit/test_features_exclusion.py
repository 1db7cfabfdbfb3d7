"""Leakage suspects excluded by the validate stage never reach the features, in training or at scoring."""

from __future__ import annotations

import numpy as np

from leadscore.features.build import build_features, leads_from_frame
from leadscore.features.dataset import featurize
from leadscore.features.intent import activity_columns
from leadscore.features.spec import FeatureSpec
from tests.model_fixtures import OFFSET_DAYS, PARAMS, canonical_crm


def test_excluded_columns_and_activity_types_are_dropped_and_stay_dropped_at_scoring() -> None:
    crm = canonical_crm(n_leads=600, seed=5)
    activities = crm.activities
    kept = featurize(crm.leads, activities, PARAMS.features, PARAMS.split, OFFSET_DAYS)
    busiest = activities["activity_type"].value_counts().index[0]
    name = kept.spec.activity_types[0]
    assert name != "other"
    assert f"intent_{name}_7d" in kept.spec.feature_names
    assert "bant_need" in kept.spec.feature_names

    dropped = featurize(
        crm.leads,
        activities,
        PARAMS.features,
        PARAMS.split,
        OFFSET_DAYS,
        exclude=["need", f"activity:{busiest}"],
    )
    spec = dropped.spec
    assert "bant_need" not in spec.feature_names
    assert "need" not in spec.roles
    assert spec.excluded_activity_types == (busiest.lower().replace(" ", "_"),)
    assert not any(busiest in f for f in spec.feature_names)
    # The exclusion travels with the spec: a rebuilt spec scores the raw log without those events at all
    # (they do not fall into "other" either), exactly like the training frame.
    rebuilt = FeatureSpec.from_json(spec.to_json())
    assert rebuilt == spec
    batch = build_features(leads_from_frame(crm.leads, rebuilt), rebuilt, activity_columns(activities))
    without = activities[activities["activity_type"] != busiest]
    expected = build_features(leads_from_frame(crm.leads, rebuilt), rebuilt, activity_columns(without))
    for feature in ("intent_total", "intent_other_30d", "intent_engagement_decayed"):
        np.testing.assert_array_equal(batch.features[feature], expected.features[feature])
    assert (
        batch.features["intent_total"].sum()
        < build_features(
            leads_from_frame(crm.leads, rebuilt),
            FeatureSpec.from_dict({**rebuilt.to_dict(), "excluded_activity_types": []}),
            activity_columns(activities),
        )
        .features["intent_total"]
        .sum()
    )
