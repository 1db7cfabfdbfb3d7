"""Champion / challenger promotion, rollback and loading from a real MLflow SQLite store."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from leadscore.cli.main import main as cli_main
from leadscore.core.errors import RegistryError
from leadscore.core.params import RegistryParams
from leadscore.models.bundle import ScoringBundle
from leadscore.models.mlflow_model import load_bundle, using_store
from leadscore.models.registry import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    RegistrationResult,
    get_champion,
    list_versions,
    log_and_register,
    promote,
    rollback,
)
from tests.registry_fixtures import TinyWorld, fresh_store, mlflow_template_fixture, tiny_world_fixture  # noqa: F401

NAME = "lead_scorer"
PARAMS = {"train": {"num_leaves": 15, "learning_rate": 0.05}, "bands": {"band_shares": {"A": 0.1}}}


@dataclass(frozen=True)
class History:
    """mid registered first, then bad, then good, into one store."""

    tracking: RegistryParams
    first: RegistrationResult
    worse: RegistrationResult
    better: RegistrationResult


def _register(
    world: TinyWorld, kind: str, tracking: RegistryParams, plots: Path | None = None
) -> RegistrationResult:
    return log_and_register(
        world.bundles[kind],
        {"test": {"auc": 0.7, "brier": 0.12, "lift@10%": 2.5}, "rows": 300, "method": "isotonic"},
        PARAMS,
        plots,
        {"git_sha": "register-sha"},
        tracking,
        test_leads=world.test_leads,
        test_activities=world.test_activities,
        validation_summary={"success": True, "checks": 12},
    )


@pytest.fixture(scope="module", autouse=True)
def _default_store_untouched() -> Iterator[None]:
    """Nothing here may fall back on MLflow's default store (./mlflow.db in the working directory)."""
    default = Path.cwd() / "mlflow.db"
    existed = default.exists()
    yield
    assert default.exists() == existed, "something used MLflow's default tracking store"


@pytest.fixture(scope="module")
def history(
    tiny_world: TinyWorld, mlflow_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> History:
    tracking = fresh_store(mlflow_template, tmp_path_factory.mktemp("registry"))
    plots = tmp_path_factory.mktemp("plots")
    (plots / "roc.json").write_text(json.dumps({"roc": [{"fpr": 0.0, "tpr": 0.0}, {"fpr": 1.0, "tpr": 1.0}]}))
    (plots / "png").mkdir()
    (plots / "png" / "roc.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    first = _register(tiny_world, "mid", tracking, plots)
    worse = _register(tiny_world, "bad", tracking)
    better = _register(tiny_world, "good", tracking)
    return History(tracking, first, worse, better)


def _copy_store(history: History, directory: Path) -> str:
    """A private copy of the registry (same artifact files) for tests that move aliases."""
    db = Path(history.tracking.tracking_uri.removeprefix("sqlite:///"))
    shutil.copyfile(db, directory / "mlflow.db")
    return f"sqlite:///{directory / 'mlflow.db'}"


def _aliases(uri: str) -> dict[str, str]:
    return {
        k: str(v)
        for k, v in MlflowClient(tracking_uri=uri, registry_uri=uri)
        .get_registered_model(NAME)
        .aliases.items()
    }


def test_first_registered_model_becomes_champion(history: History) -> None:
    first = history.first
    assert (first.version, first.alias, first.champion_version) == ("1", CHAMPION, "1")
    assert first.comparison.decision == "first_model"
    assert first.comparison.champion_value is None


def test_worse_model_becomes_challenger_and_champion_stays(history: History) -> None:
    worse = history.worse
    assert (worse.version, worse.alias, worse.champion_version) == ("2", CHALLENGER, "1")
    comparison = worse.comparison
    assert comparison.decision == "kept_champion"
    assert comparison.champion_version == "1"
    # Both figures come from the same test leads: the champion's is what it scored when v1 was registered.
    assert (
        comparison.new_value < comparison.champion_value == pytest.approx(history.first.comparison.new_value)
    )
    assert comparison.n_leads == history.first.comparison.n_leads


def test_better_model_takes_the_champion_alias_and_remembers_the_previous_one(history: History) -> None:
    better = history.better
    assert (better.version, better.alias, better.champion_version) == ("3", CHAMPION, "3")
    assert better.previous_champion_version == "1"
    assert better.comparison.decision == "promoted"
    assert better.comparison.new_value > better.comparison.champion_value
    # The loser of the previous round is no longer labelled challenger of a champion that is gone.
    assert _aliases(history.tracking.tracking_uri) == {CHAMPION: "3", PREVIOUS_CHAMPION: "1"}


def test_version_tags_record_the_comparison_and_provenance(history: History, tiny_world: TinyWorld) -> None:
    tags = {v.version: v.tags for v in list_versions(NAME, tracking_uri=history.tracking.tracking_uri)}
    assert tags["2"]["decision"] == "kept_champion"
    assert tags["2"]["compare.metric"] == "auc"
    assert float(tags["2"]["compare.champion"]) == pytest.approx(
        history.worse.comparison.champion_value, abs=1e-6
    )
    assert tags["2"]["compare.champion_version"] == "1"
    # The bundle's own training provenance wins over what the caller knew at registration time.
    assert tags["3"]["git_sha"] == "test-sha"
    assert tags["3"]["bundle_version"] == history.better.bundle_version
    assert history.better.bundle_version == ScoringBundle.load(tiny_world.bundles["good"]).version


def test_run_holds_flat_params_metrics_plots_and_validation_summary(
    history: History, tiny_world: TinyWorld
) -> None:
    client = MlflowClient(tracking_uri=history.tracking.tracking_uri)
    run = client.get_run(history.first.run_id)
    assert run.data.params["train.num_leaves"] == "15"
    assert run.data.params["bands.band_shares.A"] == "0.1"
    assert run.data.metrics["test.auc"] == pytest.approx(0.7)
    assert run.data.metrics["test.lift_10_"] == pytest.approx(2.5)  # names MLflow refuses are made safe
    assert "method" not in run.data.metrics
    assert run.data.metrics["compare.auc.new"] == pytest.approx(history.first.comparison.new_value)
    assert run.data.tags["leadscore.data_hash"] == "test-data"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"plots", "validation", "metrics.json"} <= artifacts
    plot_files = {a.path for a in client.list_artifacts(run.info.run_id, "plots/png")}
    assert plot_files == {"plots/png/roc.png"}
    # Artifacts live under the configured location, not in ./mlruns of whatever directory the tests run from.
    assert Path(history.tracking.artifact_location, "models").is_dir()


def test_champion_alias_loads_the_same_scores_as_the_bundle(history: History, tiny_world: TinyWorld) -> None:
    uri = history.tracking.tracking_uri
    loaded = load_bundle(f"models:/{NAME}@{CHAMPION}", tracking_uri=uri)
    direct = ScoringBundle.load(tiny_world.bundles["good"])
    assert loaded.version == direct.version
    expected = direct.score(tiny_world.test_leads, tiny_world.test_activities)
    pd.testing.assert_frame_equal(loaded.score(tiny_world.test_leads, tiny_world.test_activities), expected)

    with using_store(uri):
        pyfunc = mlflow.pyfunc.load_model(f"models:/{NAME}@{CHAMPION}")
    predicted = pyfunc.predict(tiny_world.test_leads)
    pd.testing.assert_frame_equal(predicted, direct.score(tiny_world.test_leads))
    # The process-wide MLflow URIs are left as they were.
    assert mlflow.get_tracking_uri() != uri


@pytest.mark.parametrize("form", ["version", "runs", "downloaded"])
def test_load_bundle_accepts_version_run_and_downloaded_model_forms(
    history: History, tiny_world: TinyWorld, form: str, tmp_path: Path
) -> None:
    uri = f"models:/{NAME}/2" if form != "runs" else f"runs:/{history.worse.run_id}/model"
    if form == "downloaded":
        with using_store(history.tracking.tracking_uri):
            uri = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp_path))
        assert (Path(uri) / "MLmodel").is_file()
    bundle = load_bundle(uri, tracking_uri=history.tracking.tracking_uri)
    assert bundle.version == ScoringBundle.load(tiny_world.bundles["bad"]).version


def test_unknown_alias_or_model_is_a_registry_error(history: History) -> None:
    uri = history.tracking.tracking_uri
    with pytest.raises(RegistryError, match="nope"):
        load_bundle(f"models:/{NAME}@nope", tracking_uri=uri)
    with pytest.raises(RegistryError, match="no registered model"):
        rollback("no_such_model", tracking_uri=uri)
    with pytest.raises(RegistryError, match="no version '9'"):
        promote(NAME, "9", tracking_uri=uri)


def test_rollback_moves_champion_back_and_a_second_rollback_undoes_it(
    history: History, tmp_path: Path
) -> None:
    uri = _copy_store(history, tmp_path)
    change = rollback(NAME, tracking_uri=uri)
    assert (change.champion_version, change.previous_champion_version, change.changed) == ("1", "3", True)
    assert _aliases(uri) == {CHAMPION: "1", PREVIOUS_CHAMPION: "3"}
    assert get_champion(NAME, tracking_uri=uri).version == "1"
    rollback(NAME, tracking_uri=uri)
    assert _aliases(uri) == {CHAMPION: "3", PREVIOUS_CHAMPION: "1"}
    history_tag = json.loads(
        MlflowClient(tracking_uri=uri, registry_uri=uri)
        .get_registered_model(NAME)
        .tags["leadscore.champion_history"]
    )
    assert [entry["version"] for entry in history_tag] == ["1", "3", "1", "3"]
    assert [entry["by"] for entry in history_tag][-2:] == ["rollback", "rollback"]


def test_rollback_to_a_given_version_and_promote(history: History, tmp_path: Path) -> None:
    uri = _copy_store(history, tmp_path)
    assert rollback(NAME, "2", tracking_uri=uri).champion_version == "2"
    assert _aliases(uri) == {CHAMPION: "2", PREVIOUS_CHAMPION: "3"}
    assert promote(NAME, "3", tracking_uri=uri).previous_champion_version == "2"
    again = promote(NAME, "3", tracking_uri=uri)
    assert not again.changed
    assert _aliases(uri) == {CHAMPION: "3", PREVIOUS_CHAMPION: "2"}


def test_models_command_lists_shows_rolls_back_and_promotes(
    history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = _copy_store(history, tmp_path)
    base = ["models", "--tracking-uri", uri]
    assert cli_main([*base, "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(v["version"], v["aliases"]) for v in listed] == [
        ("3", ["champion"]),
        ("2", []),
        ("1", ["previous_champion"]),
    ]
    assert cli_main([*base, "champion"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:2] == ["version", "aliases"]
    assert table[1].split()[:2] == ["3", "champion"]
    assert cli_main([*base, "rollback"]) == 0
    assert "champion is now version 1" in capsys.readouterr().out
    assert cli_main([*base, "promote", "2"]) == 0
    assert "champion is now version 2" in capsys.readouterr().out
    assert _aliases(uri) == {CHAMPION: "2", PREVIOUS_CHAMPION: "1"}
    assert cli_main([*base, "rollback", "--to", "7"]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == "leadscore models: error: model 'lead_scorer' has no version '7'"


def test_models_command_on_a_missing_store_fails_in_one_line_without_creating_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "absent" / "mlflow.db"
    assert cli_main(["models", "--tracking-uri", f"sqlite:///{db}", "list"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "no MLflow registry" in err[0]
    assert not db.exists()


def test_champion_that_cannot_score_the_new_test_leads_is_kept_and_new_model_is_challenger(
    tiny_world: TinyWorld,
    mlflow_template: Path,
    tmp_path: Path,
) -> None:
    tracking = fresh_store(mlflow_template, tmp_path)
    _register(tiny_world, "good", tracking)
    # The export lost its industry column: mid does not need it, the champion does.
    result = log_and_register(
        tiny_world.bundles["mid"],
        {},
        {},
        None,
        {},
        tracking,
        test_leads=tiny_world.test_leads.drop(columns=["industry"]),
    )
    assert (result.alias, result.champion_version) == (CHALLENGER, "1")
    assert result.comparison.decision == "champion_not_comparable"
    assert "industry" in result.comparison.note


def test_bundle_with_a_pii_column_is_refused_before_anything_is_logged(
    tiny_world: TinyWorld,
    mlflow_template: Path,
    tmp_path: Path,
) -> None:
    tracking = fresh_store(mlflow_template, tmp_path / "store")
    leaky = shutil.copytree(tiny_world.bundles["mid"], tmp_path / "leaky")
    pd.DataFrame({"lead_id": ["L1"], "email": ["a@example.com"]}).to_parquet(leaky / "sample.parquet")
    with pytest.raises(RegistryError, match="email"):
        log_and_register(leaky, {}, {}, None, {}, tracking, test_leads=tiny_world.test_leads)
    client = MlflowClient(tracking_uri=tracking.tracking_uri)
    assert client.search_registered_models() == []
    assert client.get_experiment_by_name(tracking.experiment) is None


def test_registering_the_champion_bundle_again_adds_no_version(
    tiny_world: TinyWorld, mlflow_template: Path, tmp_path: Path
) -> None:
    tracking = fresh_store(mlflow_template, tmp_path)
    first = _register(tiny_world, "mid", tracking)
    again = _register(tiny_world, "mid", tracking)
    assert (again.version, again.alias, again.run_id) == ("1", CHAMPION, first.run_id)
    assert again.comparison.decision == "same_as_champion"
    assert [v.version for v in list_versions(NAME, tracking_uri=tracking.tracking_uri)] == ["1"]
