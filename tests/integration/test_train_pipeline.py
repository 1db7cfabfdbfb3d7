"""featurize + train stages on tmp_path: real files in, a loadable bundle out, one feature path throughout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.core.params import Params
from leadscore.features.spec import FeatureSpec
from leadscore.models.bundle import ScoringBundle
from leadscore.pipelines.featurize import run_featurize
from leadscore.pipelines.train import run_train
from tests.model_fixtures import canonical_crm

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("stages")
    interim, processed, model = root / "interim", root / "processed", root / "model"
    interim.mkdir()
    crm = canonical_crm()
    crm.leads.to_parquet(interim / "leads.parquet", index=False)
    crm.activities.to_parquet(interim / "activities.parquet", index=False)
    params = Params.model_validate({"train": {"num_threads": 1, "reason_sample_rows": 400}})
    run_featurize(params, interim, processed)
    run_train(params, processed, model)
    return {"interim": interim, "processed": processed, "model": model}


def test_featurize_writes_an_out_of_time_split_and_the_spec(stages: dict[str, Path]) -> None:
    frame = pd.read_parquet(stages["processed"] / "features.parquet")
    spec = FeatureSpec.from_json((stages["processed"] / "spec.json").read_text())
    assert set(spec.feature_names) <= set(frame.columns)
    assert {"lead_id", "created_at", "as_of", "label", "true_p", "split"} <= set(frame.columns)
    last_train = frame.loc[frame["split"] == "train", "created_at"].max()
    first_val = frame.loc[frame["split"] == "validation", "created_at"].min()
    last_val = frame.loc[frame["split"] == "validation", "created_at"].max()
    assert last_train <= first_val
    assert last_val <= frame.loc[frame["split"] == "test", "created_at"].min()
    shares = frame["split"].value_counts(normalize=True)
    assert shares["validation"] == pytest.approx(0.15, abs=0.01)
    assert shares["test"] == pytest.approx(0.15, abs=0.01)
    # Post-sale activity types never become features: they only exist after the scoring moment.
    assert not {"contract_signed", "onboarding_session", "invoice_paid"} & set(spec.activity_types)


def test_train_writes_a_loadable_bundle_with_provenance(stages: dict[str, Path]) -> None:
    bundle = ScoringBundle.load(stages["model"])
    metrics = json.loads((stages["model"] / "train_metrics.json").read_text())
    assert metrics["version"] == bundle.version
    assert metrics["validation"]["auc"] > 0.7
    meta = bundle.metadata
    assert meta["data_hash"] == metrics["data_hash"]
    assert len(meta["params_hash"]) == 16
    assert meta["git_sha"]
    assert meta["mapping"]["lead_id"] == "lead_id"  # the export mapping travels with the model


def test_bundle_scores_equal_the_processed_features_path(stages: dict[str, Path]) -> None:
    """Batch scoring from canonical leads == the training feature frame pushed through the same model."""
    bundle = ScoringBundle.load(stages["model"])
    frame = pd.read_parquet(stages["processed"] / "features.parquet")
    test = frame[frame["split"] == "test"]
    leads = pd.read_parquet(stages["interim"] / "leads.parquet").set_index("lead_id").loc[test["lead_id"]]
    activities = pd.read_parquet(stages["interim"] / "activities.parquet")
    scored = bundle.score(leads.reset_index(), activities)
    X = bundle.transformer.transform({name: test[name].to_numpy() for name in bundle.feature_names})
    expected = bundle.calibrator(bundle.booster.predict(X, raw_score=True))
    np.testing.assert_allclose(scored["probability"].to_numpy(), expected, rtol=0, atol=1e-12)


def test_train_stage_without_inputs_fails_with_one_readable_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "leadscore.pipelines.train",
            "--inputs",
            str(tmp_path / "nothing"),
            "--out",
            str(tmp_path / "m"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "run the featurize stage first" in result.stderr
    assert "Traceback" not in result.stderr
