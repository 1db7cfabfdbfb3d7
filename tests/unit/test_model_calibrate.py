import lightgbm as lgb
import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from leadscore.core.errors import DataValidationError
from leadscore.core.params import CalibrateParams
from leadscore.models.calibrate import MarginClassifier, extract_calibrator, fit_calibration


@pytest.fixture(scope="module")
def data() -> tuple[lgb.Booster, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 4))
    y = (rng.random(3000) < 1 / (1 + np.exp(-(X[:, 0] + 0.5 * X[:, 1] - 1.5)))).astype(int)
    # Class weights make the raw probabilities too high: calibration has something to fix.
    params = {"objective": "binary", "scale_pos_weight": 4.0, "verbosity": -1, "num_threads": 1, "seed": 1}
    booster = lgb.train(params, lgb.Dataset(X[:2000], y[:2000]), 60)
    return booster, X[2000:], y[2000:]


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_extracted_calibrator_equals_calibrated_classifier_cv(data, method: str) -> None:  # noqa: ANN001
    booster, X, y = data
    margin = booster.predict(X, raw_score=True).reshape(-1, 1)
    fitted = CalibratedClassifierCV(FrozenEstimator(MarginClassifier()), method=method).fit(margin, y)
    calibrator = extract_calibrator(fitted)
    np.testing.assert_allclose(
        calibrator(margin[:, 0]), fitted.predict_proba(margin)[:, 1], rtol=1e-12, atol=1e-12
    )


def test_calibration_picks_the_method_with_the_lower_cv_brier_and_records_both(data) -> None:  # noqa: ANN001
    booster, X, y = data
    result = fit_calibration(booster.predict(X, raw_score=True), y, CalibrateParams(), seed=0)
    assert set(result.cv_brier) == {"spline", "sigmoid", "constant"}
    assert result.method == min(result.cv_brier, key=result.cv_brier.get)
    assert result.method != "constant"  # the score carries signal: the null model loses clearly
    assert result.cv_brier["constant"] > max(result.cv_brier["spline"], result.cv_brier["sigmoid"]) + 0.01
    p = result.calibrator(booster.predict(X, raw_score=True))
    assert abs(p.mean() - y.mean()) < 0.02  # the class-weight bias is gone
    assert np.mean((p - y) ** 2) < result.uncalibrated_brier


def test_single_method_skips_the_comparison(data) -> None:  # noqa: ANN001
    booster, X, y = data
    result = fit_calibration(
        booster.predict(X, raw_score=True), y, CalibrateParams(methods=["sigmoid"]), seed=0
    )
    assert result.method == "sigmoid"
    assert result.cv_brier == {}


def test_validation_period_with_one_class_cannot_be_calibrated(data) -> None:  # noqa: ANN001
    booster, X, _ = data
    with pytest.raises(DataValidationError, match="one outcome class"):
        fit_calibration(
            booster.predict(X, raw_score=True), np.zeros(len(X), dtype=int), CalibrateParams(), seed=0
        )


def test_a_score_without_skill_gets_the_null_model_the_base_rate_for_every_lead() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(3000, 4))
    y = (rng.random(3000) < 0.6).astype(int)  # outcomes unrelated to X
    params = {"objective": "binary", "verbosity": -1, "num_threads": 1, "seed": 1, "min_data_in_leaf": 20}
    booster = lgb.train(params, lgb.Dataset(X[:2000], y[:2000]), 30)
    X_val, y_val = X[2000:], y[2000:]
    margin_val = booster.predict(X_val, raw_score=True)
    result = fit_calibration(margin_val, y_val, CalibrateParams(), seed=0)
    assert result.method == "constant"
    assert result.cv_brier["constant"] < min(result.cv_brier["spline"], result.cv_brier["sigmoid"])
    calibrator = result.calibrator
    assert not calibrator.uses_score
    p = calibrator(booster.predict(X_val, raw_score=True))
    np.testing.assert_allclose(p, y_val.mean(), rtol=1e-12)
    assert calibrator.to_dict() == {"method": "constant", "a": 0.0, "b": calibrator.b}
    # Without the null model among the candidates, a fitted map spreads the noise into the scores.
    fitted = fit_calibration(margin_val, y_val, CalibrateParams(methods=["isotonic", "sigmoid"]), seed=0)
    assert fitted.calibrator.uses_score
    assert np.ptp(fitted.calibrator(booster.predict(X_val, raw_score=True))) > 0.0


def test_isotonic_is_still_a_candidate_when_listed(data) -> None:  # noqa: ANN001
    booster, X, y = data
    margin = booster.predict(X, raw_score=True)
    params = CalibrateParams(methods=["isotonic"])
    result = fit_calibration(margin, y, params, seed=0)
    assert result.method == "isotonic"
    assert result.calibrator.has_breakpoints
    listed = fit_calibration(margin, y, CalibrateParams(methods=["isotonic", "spline", "sigmoid"]), seed=0)
    assert set(listed.cv_brier) == {"isotonic", "spline", "sigmoid"}


def test_a_gain_over_the_base_rate_within_noise_is_no_skill() -> None:
    rng = np.random.default_rng(3)
    margin = rng.normal(size=1000)
    y = (rng.random(1000) < 0.5 + 0.03 * np.tanh(margin)).astype(int)  # a trace of signal, lost in noise
    result = fit_calibration(margin, y, CalibrateParams(), seed=0)
    best_map = min(("spline", "sigmoid"), key=result.cv_brier.get)
    assert result.cv_brier[best_map] < result.cv_brier["constant"]  # the bare minimum would claim skill
    assert result.cv_brier["constant"] - result.cv_brier[best_map] < result.cv_brier_se[best_map]
    assert result.method == "constant"
