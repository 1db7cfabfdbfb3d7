"""Seed ensembles: the merged booster scores the members' mean, and the mean depends less on the seed."""

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from leadscore.models.booster_ensemble import merge_boosters
from leadscore.models.single_row import SingleRowPredictor
from leadscore.models.train import Periods, fit_booster, lgb_params, member_seed, train_model
from tests.model_fixtures import FAST_TRAIN, PARAMS, SEED, canonical_crm, period_of, small_dataset


def synthetic_periods(seed: int = 0) -> Periods:
    """Leads whose conversion depends on two numeric columns and a categorical one (codes 0-5)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(3000, 5))
    X[:, 4] = rng.integers(0, 6, 3000)
    logit = X[:, 0] - 0.7 * X[:, 1] + 0.4 * (X[:, 4] == 2) - 1.0
    y = (rng.random(3000) < 1 / (1 + np.exp(-logit))).astype(int)
    return Periods(X[:2000], y[:2000], X[2000:], y[2000:], [f"f{i}" for i in range(5)], [4])


@pytest.fixture(scope="module")
def members() -> list[lgb.Booster]:
    periods = synthetic_periods()
    base = lgb_params(FAST_TRAIN, seed=0, pos_weight=2.0)
    return [fit_booster(periods, {**base, "seed": s}, 300, 20)[0] for s in range(3)]


def test_merged_booster_scores_the_mean_margin_and_mean_contributions(members: list[lgb.Booster]) -> None:
    X = synthetic_periods().X_val
    merged = merge_boosters(members)
    assert merged.num_trees() == sum(b.num_trees() for b in members)
    mean_margin = np.mean([b.predict(X, raw_score=True) for b in members], axis=0)
    np.testing.assert_allclose(merged.predict(X, raw_score=True), mean_margin, rtol=0, atol=1e-12)
    mean_contrib = np.mean([b.predict(X, pred_contrib=True) for b in members], axis=0)
    np.testing.assert_allclose(merged.predict(X, pred_contrib=True), mean_contrib, rtol=0, atol=1e-12)
    # The API's single-row path and a save/load round trip see the same model.
    np.testing.assert_allclose(
        SingleRowPredictor(merged).predict(X[:50]), mean_margin[:50], rtol=0, atol=1e-12
    )
    reloaded = lgb.Booster(model_str=merged.model_to_string())
    np.testing.assert_array_equal(reloaded.predict(X, raw_score=True), merged.predict(X, raw_score=True))


def test_one_booster_is_served_as_it_is(members: list[lgb.Booster]) -> None:
    assert merge_boosters(members[:1]) is members[0]
    with pytest.raises(ValueError, match="nothing to merge"):
        merge_boosters([])


def test_ensemble_of_one_is_the_single_booster_and_ensembles_of_two_seeds_share_no_member() -> None:
    periods = synthetic_periods()
    single = train_model(periods, FAST_TRAIN, seed=7)
    alone, best, _ = fit_booster(
        periods, single.lgb_params, FAST_TRAIN.n_estimators, FAST_TRAIN.early_stopping_rounds
    )
    assert single.booster.model_to_string() == alone.model_to_string()
    assert [m.seed for m in single.members] == [7]
    assert single.best_iteration == best
    trio = train_model(periods, FAST_TRAIN.model_copy(update={"ensemble_size": 3}), seed=7)
    assert [m.seed for m in trio.members] == [7, member_seed(7, 1), member_seed(7, 2)]
    other = {member_seed(8, i) for i in range(3)}
    assert len({m.seed for m in trio.members} | other) == 6
    assert trio.best_iteration == best  # the first member is the single booster
    assert trio.booster.num_trees() == sum(m.best_iteration for m in trio.members)


def test_the_ensemble_depends_less_on_the_seed_than_one_booster() -> None:
    periods = synthetic_periods()
    ensemble = FAST_TRAIN.model_copy(update={"ensemble_size": 5})

    def margins(params, seed: int) -> np.ndarray:  # noqa: ANN001
        return train_model(periods, params, seed).booster.predict(periods.X_val, raw_score=True)

    single_gap = np.mean(np.abs(margins(FAST_TRAIN, 0) - margins(FAST_TRAIN, 100)))
    ensemble_gap = np.mean(np.abs(margins(ensemble, 0) - margins(ensemble, 100)))
    assert ensemble_gap < 0.7 * single_gap


def test_an_ensemble_bundle_scores_alike_lead_by_lead_in_batch_and_after_reload(tmp_path: Path) -> None:
    from leadscore.models.bundle import ScoringBundle
    from leadscore.models.fit import fit_scoring_bundle

    dataset = small_dataset()
    fit = fit_scoring_bundle(
        dataset.frame, dataset.spec, features=PARAMS.features,
        train=FAST_TRAIN.model_copy(update={"ensemble_size": 3}), calibrate=PARAMS.calibrate,
        bands=PARAMS.bands, seed=SEED,
    )  # fmt: skip
    assert [m["seed"] for m in fit.metrics["ensemble"]] == [member_seed(SEED, i) for i in range(3)]
    assert fit.bundle.metadata["ensemble"] == fit.metrics["ensemble"]
    leads, activities = period_of(dataset, canonical_crm())
    batch = fit.bundle.score(leads.head(25), activities)
    # One lead at a time goes through LightGBM's single-row C path (the API's), the batch through predict.
    lead_by_lead = [fit.bundle.score(leads.iloc[[i]], activities)["probability"].iloc[0] for i in range(25)]
    np.testing.assert_allclose(lead_by_lead, batch["probability"], rtol=0, atol=1e-12)
    reloaded = ScoringBundle.load(fit.bundle.save(tmp_path / "bundle"))
    np.testing.assert_array_equal(
        reloaded.score(leads.head(25), activities)["probability"], batch["probability"]
    )
    assert batch["reasons_positive"].map(len).sum() > 0  # reasons come from the merged trees
