"""Optional optuna search of LightGBM settings on the validation period (``train.tune``).

The objective is the early-stopping metric on the validation period (the same period later used for
calibration and bands; a mild optimism the test period then reveals honestly). TPE is seeded from base.seed;
with a time budget the number of finished trials depends on machine speed, so tuned runs are reproducible only
when ``n_trials`` is reached before ``time_budget_seconds``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from leadscore.core.params import TrainParams

logger = logging.getLogger(__name__)


# (booster params) -> (booster, best iteration, validation score): the training stage's fit with early
# stopping.
FitBooster = Callable[[dict[str, Any]], tuple[Any, int, float]]


def tune_params(
    fit: FitBooster, base: dict[str, Any], params: TrainParams, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Search tree settings; returns (best overrides of ``base``, a summary for the metrics file).

    ``fit`` is passed in (rather than imported from ``models.train``, which calls this) so the two modules do
    not import each other.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    maximise = base["metric"] == "auc"

    def objective(trial: optuna.Trial) -> float:
        trial_params = dict(base)
        trial_params.update(
            num_leaves=trial.suggest_int("num_leaves", 4, 63, log=True),
            learning_rate=trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
            min_data_in_leaf=trial.suggest_int("min_data_in_leaf", 10, 300, log=True),
            feature_fraction=trial.suggest_float("feature_fraction", 0.4, 1.0),
            bagging_fraction=trial.suggest_float("bagging_fraction", 0.5, 1.0),
            lambda_l2=trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
        )
        _, best, score = fit(trial_params)
        trial.set_user_attr("best_iteration", best)
        return score

    started = time.perf_counter()
    study = optuna.create_study(
        direction="maximize" if maximise else "minimize", sampler=optuna.samplers.TPESampler(seed=seed)
    )
    study.optimize(objective, n_trials=params.tune.n_trials, timeout=params.tune.time_budget_seconds)
    summary = {
        "trials": len(study.trials),
        "seconds": round(time.perf_counter() - started, 1),
        "metric": base["metric"],
        "best_value": float(study.best_value),
        "best_params": dict(study.best_params),
    }
    logger.info("tuning: %d trials, best %s %.4f", summary["trials"], base["metric"], summary["best_value"])
    return dict(study.best_params), summary
