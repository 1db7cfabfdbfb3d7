"""Promotion rule, PII guard, store checks and batch-option parsing: the registry's pure logic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.core.errors import ConfigError, ModelQualityError, RegistryError
from leadscore.core.params import RegistryParams
from leadscore.models.batch import parse_as_of
from leadscore.models.mlflow_model import require_store
from leadscore.models.registry import assert_no_pii, is_at_least_as_good, metric_value
from leadscore.pipelines.register import resolve_tracking

LABELS = np.array([0, 0, 1, 1, 0, 1])
GOOD = np.array([0.1, 0.2, 0.8, 0.7, 0.3, 0.9])
BAD = GOOD[::-1].copy()


def test_auc_ranks_the_better_model_higher() -> None:
    assert metric_value("auc", LABELS, GOOD) == pytest.approx(1.0)
    assert metric_value("auc", LABELS, BAD) < 0.5


@pytest.mark.parametrize("metric", ["brier", "log_loss"])
def test_proper_scores_are_lower_for_the_better_model(metric: str) -> None:
    assert metric_value(metric, LABELS, GOOD) < metric_value(metric, LABELS, BAD)


def test_log_loss_survives_probabilities_of_exactly_zero_and_one() -> None:
    value = metric_value("log_loss", np.array([0, 1]), np.array([1.0, 0.0]))
    assert np.isfinite(value)
    assert value > 10


def test_single_outcome_test_period_cannot_compare_models() -> None:
    with pytest.raises(ModelQualityError, match="single outcome"):
        metric_value("auc", np.zeros(5, dtype=int), np.linspace(0, 1, 5))


@pytest.mark.parametrize(
    ("new", "champion", "higher", "tolerance", "expected"),
    [
        (0.80, 0.80, True, 0.0, True),  # a tie promotes: "at least as good"
        (0.79, 0.80, True, 0.0, False),
        (0.79, 0.80, True, 0.02, True),  # within tolerance
        (0.77, 0.80, True, 0.02, False),
        (0.10, 0.12, False, 0.0, True),  # brier: lower wins
        (0.13, 0.12, False, 0.0, False),
        (0.13, 0.12, False, 0.01, True),
    ],
)
def test_promotion_rule_respects_direction_and_tolerance(
    new: float, champion: float, higher: bool, tolerance: float, expected: bool
) -> None:
    assert is_at_least_as_good(new, champion, higher, tolerance) is expected


def test_pii_key_nested_in_json_is_refused() -> None:
    with pytest.raises(RegistryError, match="email"):
        assert_no_pii("metrics", {"segments": [{"by": {"email": 3}}]})


def test_pii_names_as_values_are_allowed() -> None:
    # The mapping lists which columns are PII; naming them is not carrying them.
    assert_no_pii("params", {"source": {"mapping": {"pii": ["contact_name", "email", "phone"]}}})


def test_pii_column_in_a_parquet_or_csv_file_is_refused(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    pd.DataFrame({"lead_id": ["a"], "probability": [0.2]}).to_parquet(clean / "reference.parquet")
    (clean / "roc.json").write_text(json.dumps({"fpr": [0, 1], "tpr": [0, 1]}))
    assert_no_pii("bundle", paths=[clean])

    parquet_dir = tmp_path / "bundle"
    parquet_dir.mkdir()
    pd.DataFrame({"lead_id": ["a"], "Phone": ["555"]}).to_parquet(parquet_dir / "reference.parquet")
    with pytest.raises(RegistryError, match="Phone"):
        assert_no_pii("bundle", paths=[parquet_dir])

    csv = tmp_path / "plots" / "table.csv"
    csv.parent.mkdir()
    csv.write_text("lead_id,contact_name\na,Alex\n")
    with pytest.raises(RegistryError, match="contact_name"):
        assert_no_pii("plots", paths=[csv.parent])


def test_missing_sqlite_store_is_a_registry_error_not_a_new_database(tmp_path: Path) -> None:
    db = tmp_path / "nowhere" / "mlflow.db"
    with pytest.raises(RegistryError, match="no MLflow registry"):
        require_store(f"sqlite:///{db}")
    assert not db.exists()
    require_store("http://127.0.0.1:5000")  # remote stores are not checked here


def test_relative_store_locations_resolve_under_the_repository_root(tmp_path: Path) -> None:
    resolved = resolve_tracking(RegistryParams(), tmp_path)
    assert resolved.tracking_uri == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert Path(resolved.artifact_location) == tmp_path / "mlruns" / "artifacts"
    assert (tmp_path / "mlruns" / "artifacts").is_dir()
    remote = RegistryParams(tracking_uri="http://127.0.0.1:5000", artifact_location="s3://bucket/x")
    assert resolve_tracking(remote, tmp_path) == remote


def test_as_of_with_offset_becomes_naive_utc() -> None:
    assert parse_as_of("2025-03-31T00:00+02:00") == pd.Timestamp("2025-03-30 22:00")
    assert parse_as_of("2025-03-31") == pd.Timestamp("2025-03-31")
    assert parse_as_of(None) is None
    assert parse_as_of("now").tzinfo is None


def test_unreadable_as_of_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--as-of"):
        parse_as_of("next tuesday-ish")


def test_version_tags_name_the_leakage_suspects_the_model_never_saw() -> None:
    """The train stage records excluded leakage suspects in the bundle metadata; the MLflow run and model
    version carry them as one readable tag ("none" when nothing was excluded)."""
    from types import SimpleNamespace

    from leadscore.models.registry import Comparison, _version_tags

    comparison = Comparison("auc", True, 0.0, 100, 20, 0.8)
    for excluded, tag in ((["xcat_tags", "xcat_lead_quality"], "xcat_tags, xcat_lead_quality"), ([], "none")):
        bundle = SimpleNamespace(
            metadata={"git_sha": "abc", "params_hash": "p", "data_hash": "d", "excluded_columns": excluded},
            version="v1",
        )
        tags = _version_tags(comparison, {"register_git_sha": "abc"}, bundle)  # type: ignore[arg-type]
        assert tags["leadscore.excluded_columns"] == tag
        assert tags["leadscore.git_sha"] == "abc"
        assert tags["leadscore.params_hash"] == "p"
        assert tags["leadscore.data_hash"] == "d"
