import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from leadscore.core.errors import ConfigError, SchemaError
from leadscore.features.build import build_features, leads_from_frame
from leadscore.features.intent import activity_columns
from leadscore.models.bundle import OUTPUT_COLUMNS, ScoringBundle
from tests.model_fixtures import canonical_crm, period_of, small_bundle, small_dataset


@pytest.fixture(scope="module")
def bundle() -> ScoringBundle:
    return small_bundle()


@pytest.fixture(scope="module")
def period() -> tuple[pd.DataFrame, pd.DataFrame]:
    return period_of(small_dataset(), canonical_crm())


def test_score_and_score_records_give_the_same_numbers(bundle: ScoringBundle, period) -> None:  # noqa: ANN001
    leads, activities = period
    frame_out = bundle.score(leads, activities)
    records_out = bundle.score_records(leads.to_dict("records"), activities.to_dict("records"))
    assert frame_out.to_dict("records") == records_out
    one = bundle.score_records(leads.iloc[[5]].to_dict("records"), activities.to_dict("records"))[0]
    assert one == records_out[5]  # a lead scores the same alone or in a batch


def test_score_output_contract(bundle: ScoringBundle, period) -> None:  # noqa: ANN001
    leads, activities = period
    leads = leads.set_index(pd.Index(np.arange(len(leads)) * 10 + 7))
    out = bundle.score(leads, activities)
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert out.index.equals(leads.index)
    assert out["lead_id"].tolist() == leads["lead_id"].tolist()
    assert out["probability"].between(0, 1).all()
    assert (out["score"] == np.rint(100 * out["probability"])).all()
    assert set(out["band"]) <= set(bundle.bands.names)
    assert (out["is_mql"] >= out["is_sql"]).all()
    reasons = [r for rs in out["reasons_positive"] for r in rs] + [
        r for rs in out["reasons_negative"] for r in rs
    ]
    assert reasons
    assert all(set(r) == {"feature", "label", "value", "impact"} for r in reasons)
    assert all(r["label"] != r["feature"] and " " in r["label"] for r in reasons)  # business words
    assert out["features_hash"].str.fullmatch(r"[0-9a-f]{16}").all()


def test_bundle_save_load_round_trip_gives_identical_scores(
    bundle: ScoringBundle,
    period,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    leads, activities = period
    bundle.save(tmp_path / "model")
    loaded = ScoringBundle.load(tmp_path / "model")
    assert loaded.version == bundle.version
    pd.testing.assert_frame_equal(loaded.score(leads, activities), bundle.score(leads, activities))
    metadata = json.loads((tmp_path / "model" / "metadata.json").read_text())
    assert metadata["version"] == bundle.version
    for key in ("git_sha", "params_hash", "data_hash", "trained_at", "calibration_method", "band_thresholds"):
        assert key in metadata
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "model" / "reference.parquet"), loaded.reference)


def test_tampered_bundle_is_refused(bundle: ScoringBundle, tmp_path: Path) -> None:
    bundle.save(tmp_path / "model")
    tampered = joblib.load(tmp_path / "model" / "bundle.joblib")
    tampered.calibrator = type(tampered.calibrator)("sigmoid", a=-1.0, b=0.0)
    joblib.dump(tampered, tmp_path / "model" / "bundle.joblib")
    with pytest.raises(ConfigError, match="content hash"):
        ScoringBundle.load(tmp_path / "model")
    with pytest.raises(ConfigError, match="no scoring bundle"):
        ScoringBundle.load(tmp_path / "nowhere")


@pytest.mark.parametrize("column", ["industry", "contact_title", "created_at"])
def test_missing_required_column_raises_schema_error_naming_it(
    bundle: ScoringBundle,
    period,
    column: str,  # noqa: ANN001
) -> None:
    leads, activities = period
    with pytest.raises(SchemaError, match=column):
        bundle.score(leads.drop(columns=[column]), activities)
    with pytest.raises(SchemaError, match=column):
        bundle.score_records(leads.drop(columns=[column]).head(2).to_dict("records"))


def test_wrong_type_raises_schema_error_naming_the_column(bundle: ScoringBundle, period) -> None:  # noqa: ANN001
    leads, _ = period
    records = leads.head(3).to_dict("records")
    records[1]["employees"] = "a few hundred"
    with pytest.raises(SchemaError, match="employees"):
        bundle.score_records(records)


def test_pre_aggregated_intent_scores_like_the_activity_log(bundle: ScoringBundle, period) -> None:  # noqa: ANN001
    leads, activities = period
    intent = build_features(leads_from_frame(leads, bundle.spec), bundle.spec, activity_columns(activities))
    with_counts = leads.copy()
    for name in bundle.spec.intent_feature_names:
        with_counts[name] = intent.features[name]
    a = bundle.score(leads, activities)
    b = bundle.score(with_counts)
    np.testing.assert_array_equal(a["probability"], b["probability"])


def test_unseen_categories_and_activity_types_still_score(bundle: ScoringBundle, period) -> None:  # noqa: ANN001
    leads, activities = period
    lead = leads.head(1).assign(industry="Asteroid Mining", lead_source="carrier pigeon")
    event = {
        "lead_id": lead["lead_id"].iloc[0],
        "occurred_at": lead["created_at"].iloc[0],
        "activity_type": "hologram",
    }
    out = bundle.score_records(lead.to_dict("records"), [event])[0]
    assert 0.0 <= out["probability"] <= 1.0


def test_later_scoring_moment_sees_more_activity(bundle: ScoringBundle, period) -> None:  # noqa: ANN001
    leads, activities = period
    busy = activities["lead_id"].value_counts().index[0]
    lead = leads.loc[leads["lead_id"] == busy]
    early = bundle.score(lead, activities, as_of=lead["created_at"].iloc[0] - pd.Timedelta(days=200))
    late = bundle.score(lead, activities)
    assert early["features_hash"].iloc[0] != late["features_hash"].iloc[0]


def test_exact_reasons_use_treeshap_with_the_same_shape(bundle: ScoringBundle, period) -> None:  # noqa: ANN001
    leads, activities = period
    fast = bundle.score(leads.head(20), activities)
    exact = bundle.score(leads.head(20), activities, exact_reasons=True)
    np.testing.assert_array_equal(fast["probability"], exact["probability"])
    top_fast = [rs[0]["feature"] for rs in fast["reasons_positive"] if rs]
    top_exact = [rs[0]["feature"] for rs in exact["reasons_positive"] if rs]
    assert np.mean([a == b for a, b in zip(top_fast, top_exact, strict=False)]) >= 0.6


def test_reference_holds_validation_features_probability_and_label_only(bundle: ScoringBundle) -> None:
    reference = bundle.reference
    assert set(bundle.feature_names) <= set(reference.columns)
    assert {"probability", "label"} <= set(reference.columns)
    assert "true_p" not in reference.columns
    assert "split" not in reference.columns
    assert len(reference) == int((small_dataset().frame["split"] == "validation").sum())


def test_no_reasons_when_not_asked(bundle: ScoringBundle, period) -> None:  # noqa: ANN001
    leads, activities = period
    out = bundle.score(leads.head(5), activities, with_reasons=False)
    assert all(r == [] for r in out["reasons_positive"])
    assert all(r == [] for r in out["reasons_negative"])


def test_a_bundle_pickled_before_the_single_import_root_fails_with_retrain_advice(tmp_path: Path) -> None:
    # What joblib wrote for bundles of the old layout: a class looked up as ``features.transform``.
    (tmp_path / "bundle.joblib").write_bytes(b"cfeatures.transform\nFeatureTransformer\n)\x81.")
    with pytest.raises(ConfigError, match=r"older leadscore .* retrain it with `dvc repro`"):
        ScoringBundle.load(tmp_path)
