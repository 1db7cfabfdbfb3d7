"""Refit on training + validation: the served booster sees the validation leads, their margins never do."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from leadscore.models.refit import refit_on_validation
from leadscore.models.train import EnsembleMember, Periods
from tests.model_fixtures import FAST_TRAIN, PARAMS, SEED, canonical_crm, small_dataset, small_fit

# Memorising recipe: one-lead leaves and many trees, so a booster that trained on a lead "knows" its label.
MEMORISE = {"objective": "binary", "num_leaves": 63, "min_data_in_leaf": 1, "min_sum_hessian_in_leaf": 0.0,
            "learning_rate": 0.3, "verbosity": -1, "num_threads": 1, "seed": 0, "deterministic": True,
            "force_row_wise": True}  # fmt: skip


@pytest.mark.parametrize("n_members", [1, 2])
def test_out_of_fold_margins_come_from_boosters_that_never_saw_the_lead(n_members: int) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1600, 3))  # every lead is unique; the labels are coin flips
    y = rng.integers(0, 2, 1600)
    periods = Periods(X[:1000], y[:1000], X[1000:], y[1000:], ["a", "b", "c"], [])
    members = [EnsembleMember(seed, 200, 0.0) for seed in range(n_members)]
    refit = refit_on_validation(periods, MEMORISE, members, folds=4, seed=SEED)
    assert refit.folds == 4
    in_sample = roc_auc_score(periods.y_val, refit.booster.predict(periods.X_val, raw_score=True))
    out_of_fold = roc_auc_score(periods.y_val, refit.oof_margin_val)
    assert in_sample > 0.95  # the served booster trained on the validation leads and memorised them
    assert 0.4 < out_of_fold < 0.6  # their calibration margins did not: coin flips stay coin flips


def test_refit_serves_a_booster_of_the_same_size_trained_on_more_leads_and_records_it() -> None:
    from leadscore.models.fit import fit_scoring_bundle

    dataset = small_dataset()
    default = small_fit()
    refit = fit_scoring_bundle(
        dataset.frame, dataset.spec, features=PARAMS.features,
        train=FAST_TRAIN.model_copy(update={"refit": True}), calibrate=PARAMS.calibrate, bands=PARAMS.bands,
        seed=SEED,
    )  # fmt: skip
    assert default.metrics["refit"] is None
    rows = refit.metrics["rows"]
    assert refit.metrics["refit"]["rows"] == rows["train"] + rows["validation"]
    assert refit.metrics["refit"]["oof_folds"] == PARAMS.calibrate.cv_folds
    assert refit.bundle.metadata["refit"] == refit.metrics["refit"]
    assert refit.metrics["best_iteration"] == default.metrics["best_iteration"]  # early stopping decided it
    assert refit.bundle.booster.num_trees() == default.bundle.booster.num_trees()
    assert refit.bundle.booster.model_to_string() != default.bundle.booster.model_to_string()
    assert refit.bundle.version != default.bundle.version
    assert refit.metrics["validation"]["auc"] > 0.7  # out-of-fold validation margins still rank
    crm = canonical_crm()
    leads = crm.leads.head(40)
    served = refit.bundle.score(leads, crm.activities)["probability"].to_numpy()
    before = default.bundle.score(leads, crm.activities)["probability"].to_numpy()
    assert np.all((served > 0) & (served < 1))
    assert not np.allclose(served, before)  # the refit booster is what scores
    assert np.corrcoef(served, before)[0, 1] > 0.9  # ...and it ranks much like the training booster
