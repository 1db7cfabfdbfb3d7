"""Calibration on the validation period: spline, sigmoid, isotonic or constant, by cross-validated Brier.

The booster is trained with class weights and early stopping, so its raw probabilities are not probabilities.
Calibration maps its raw score (log-odds margin) to a conversion probability, fitted on the validation period
(leads the booster never trained on) with scikit-learn's ``CalibratedClassifierCV(FrozenEstimator(model))``
over the raw margins (``MarginClassifier``).

Which method: spline (leadscore.models.spline_map, the default's flexible shape) is smooth and monotone and
keeps the booster's ranking; sigmoid (Platt) is rigid but stable; isotonic is flexible but a step function
(ties, and tails fitted to a few dozen leads), offered but no longer a default candidate; constant is the null
model, the validation period's base rate for every lead whatever its score. All are scored by Brier with
stratified k-fold CV *inside* the validation period (calibrate on k-1 folds, score the held-out fold), and the
chosen one is refitted on the whole validation period.

Which one is chosen: the lowest held-out Brier, except that a map of the score replaces the null model only
if it beats it by more than one standard error of the per-lead difference (paired: both are scored on the
same held-out leads). Claiming skill is a different decision from choosing a shape, and a bare minimum made it
a coin flip: on Maven's fictional data the sigmoid beat the base rate by 0.0001 with one seed in eight and
spread noise into the scores (test ECE 0.045-0.054 instead of 0.023). The shape itself (spline or sigmoid) is
the plain minimum: their difference is often within a standard error, and the simpler sigmoid's shape is the
one that misses X Education out of time.

Why the null model is a candidate: when the booster has no skill (Maven's fictional pipeline: AUC 0.5), a
fitted map only spreads noise into the scores, and those spread scores are miscalibrated on new leads by
construction. If no map of the score beats the base rate on held-out validation leads, the honest output is
the base rate itself: the model then says "no skill" (train metrics warning, every lead the same
probability, no reasons, one band) instead of ranking leads on noise. The booster was early-stopped on this
very period, so its held-out scores are, if anything, flattered: the constant only wins when even those carry
no signal.

Why extract the calibrator: ``CalibratedClassifierCV.predict_proba`` re-validates input and calls the model
again; at scoring time we already have the raw margins. The fitted 1-D map is therefore extracted: isotonic ->
its breakpoints, applied with ``np.interp`` (identical to ``IsotonicRegression.predict`` with clipping; the
spline map is stored the same way);
sigmoid -> its two coefficients, applied as ``1 / (1 + exp(a * margin + b))``. That is a few microseconds per
batch and carries no sklearn object into the bundle. A unit test checks it equals ``predict_proba`` exactly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold

from leadscore.core.errors import DataValidationError
from leadscore.core.params import CalibrateParams
from leadscore.models.spline_map import fit_spline_map

logger = logging.getLogger(__name__)

CONSTANT = "constant"
# Maps stored as breakpoints and applied by linear interpolation.
BREAKPOINT_METHODS = frozenset({"isotonic", "spline"})


class MarginClassifier(ClassifierMixin, BaseEstimator):
    """sklearn view of raw margins already computed: column 0 of X *is* the booster's log-odds margin.

    ``decision_function`` returns it unchanged, which is what CalibratedClassifierCV calibrates. Calibrating
    margins rather than a booster lets the same code calibrate the training booster's validation margins or
    the out-of-fold margins of a refit (leadscore.models.refit).
    """

    def __sklearn_is_fitted__(self) -> bool:
        """Always fitted: there is nothing to learn."""
        return True

    @property
    def classes_(self) -> np.ndarray:
        """Binary labels, 0 = not converted, 1 = converted."""
        return np.array([0, 1])

    def fit(self, X: Any, y: Any = None) -> MarginClassifier:
        """No-op, present for the sklearn contract."""
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """The margin column."""
        return np.asarray(X, dtype=np.float64)[:, 0]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Uncalibrated probabilities, shape (n, 2)."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class at the 0.5 threshold (not used for scoring)."""
        return (self.decision_function(X) > 0).astype(np.int64)


@dataclass(frozen=True)
class Calibrator:
    """The extracted 1-D calibration map from raw margin to probability.

    Attributes:
        method: "spline", "isotonic", "sigmoid" or "constant" (a sigmoid with a = 0: one probability for all).
        x: spline or isotonic breakpoints (raw margins, increasing).
        y: probabilities at the breakpoints.
        a: sigmoid slope coefficient (sklearn convention: p = 1 / (1 + exp(a * margin + b))).
        b: sigmoid intercept; for "constant", ``-logit(probability)``.
    """

    method: str
    x: np.ndarray = field(default_factory=lambda: np.empty(0))
    y: np.ndarray = field(default_factory=lambda: np.empty(0))
    a: float = 0.0
    b: float = 0.0

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probability per raw margin."""
        margin = np.asarray(margin, dtype=np.float64)
        if self.has_breakpoints:
            return np.interp(margin, self.x, self.y)
        return 1.0 / (1.0 + np.exp(self.a * margin + self.b))

    @property
    def has_breakpoints(self) -> bool:
        """True for maps stored as breakpoints (spline, isotonic), False for the two-coefficient forms."""
        return self.method in BREAKPOINT_METHODS

    @property
    def uses_score(self) -> bool:
        """False for the constant map: the probability does not depend on the lead, so nothing explains it."""
        return self.method != CONSTANT

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (metadata and the content hash)."""
        if self.has_breakpoints:
            return {"method": self.method, "x": self.x.tolist(), "y": self.y.tolist()}
        return {"method": self.method, "a": float(self.a), "b": float(self.b)}


@dataclass(frozen=True)
class CalibrationResult:
    """The chosen calibrator and the evidence for the choice.

    Attributes:
        calibrator: the extracted map, refitted on the whole validation period.
        method: the chosen method.
        cv_brier: mean held-out Brier per candidate method (k-fold inside the validation period).
        cv_brier_se: per candidate, the standard error of its held-out Brier minus the null model's (paired
            over the validation leads); empty without the null model among the candidates.
        folds: number of CV folds used.
        uncalibrated_brier: Brier of the booster's own probabilities on the validation period, for contrast.
    """

    calibrator: Calibrator
    method: str
    cv_brier: dict[str, float]
    folds: int
    uncalibrated_brier: float
    cv_brier_se: dict[str, float] = field(default_factory=dict)


def extract_calibrator(fitted: CalibratedClassifierCV) -> Calibrator:
    """Pull the 1-D map out of a fitted binary ``CalibratedClassifierCV`` over a FrozenEstimator."""
    (pair,) = fitted.calibrated_classifiers_
    (inner,) = pair.calibrators
    if fitted.method == "isotonic":
        return Calibrator(
            "isotonic", x=np.asarray(inner.X_thresholds_, float), y=np.asarray(inner.y_thresholds_, float)
        )
    if fitted.method == "sigmoid":
        return Calibrator("sigmoid", a=float(inner.a_), b=float(inner.b_))
    raise ValueError(f"unsupported calibration method {fitted.method!r}")


def constant_calibrator(y: np.ndarray) -> Calibrator:
    """The null map: every lead gets the base rate of ``y`` (which must hold both classes)."""
    rate = float(np.mean(y))
    return Calibrator(CONSTANT, a=0.0, b=float(np.log((1.0 - rate) / rate)))


def calibrate_margins(margin: np.ndarray, y: np.ndarray, method: str) -> CalibratedClassifierCV:
    """``CalibratedClassifierCV`` of ``method`` fitted on raw margins (see ``MarginClassifier``)."""
    X = np.asarray(margin, dtype=np.float64).reshape(-1, 1)
    return CalibratedClassifierCV(FrozenEstimator(MarginClassifier()), method=method).fit(X, y)


def fit_map(margin: np.ndarray, y: np.ndarray, method: str, params: CalibrateParams) -> Calibrator:
    """The calibration map of ``method`` fitted on ``margin`` -> ``y`` (both classes present)."""
    if method == CONSTANT:
        return constant_calibrator(y)
    if method == "spline":
        x, p = fit_spline_map(margin, y, params.spline_knots)
        return Calibrator("spline", x=x, y=p)
    return extract_calibrator(calibrate_margins(margin, y, method))


def _held_out_squared_errors(
    margin: np.ndarray, y: np.ndarray, methods: list[str], params: CalibrateParams, folds: int, seed: int
) -> dict[str, np.ndarray]:
    """Per method, each validation lead's squared error when calibrated on the folds that do not hold it."""
    errors = {method: np.empty(len(y), dtype=np.float64) for method in methods}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_idx, held_idx in splitter.split(margin.reshape(-1, 1), y):
        for method in methods:
            fold_map = fit_map(margin[fit_idx], y[fit_idx], method, params)
            errors[method][held_idx] = (fold_map(margin[held_idx]) - y[held_idx]) ** 2
    return errors


def fit_calibration(
    margin_val: np.ndarray, y_val: np.ndarray, params: CalibrateParams, seed: int
) -> CalibrationResult:
    """Choose and fit the calibration on the validation period.

    Args:
        margin_val: the served booster's raw margins for the validation leads, computed by a booster that did
            not train on them (the training booster's own, or out-of-fold margins of a refit).
        y_val: validation labels (0/1).
        params: candidate methods and CV folds.
        seed: shuffles the stratified folds (deterministic).

    Raises:
        DataValidationError: the validation period lacks one of the classes.
    """
    y_val = np.asarray(y_val, dtype=np.int64)
    margin_val = np.asarray(margin_val, dtype=np.float64)
    minority = int(min(y_val.sum(), len(y_val) - y_val.sum()))
    if minority == 0:
        raise DataValidationError("the validation period has only one outcome class: cannot calibrate")
    methods = list(dict.fromkeys(params.methods))
    folds = min(params.cv_folds, minority)
    cv_brier: dict[str, float] = {}
    cv_brier_se: dict[str, float] = {}
    if len(methods) > 1 and folds >= 2:
        held_out_error = _held_out_squared_errors(margin_val, y_val, methods, params, folds, seed)
        cv_brier = {m: float(errors.mean()) for m, errors in held_out_error.items()}
        chosen = min(methods, key=lambda m: (cv_brier[m], m))
        if CONSTANT in methods:
            for method in methods:
                difference = held_out_error[method] - held_out_error[CONSTANT]
                cv_brier_se[method] = float(difference.std(ddof=1) / np.sqrt(len(difference)))
            if cv_brier[CONSTANT] - cv_brier[chosen] <= cv_brier_se[chosen]:
                chosen = CONSTANT  # no skill shown beyond noise
    else:
        chosen = methods[0] if folds >= 2 or "sigmoid" not in methods else "sigmoid"
    calibrator = fit_map(margin_val, y_val, chosen, params)
    if chosen == CONSTANT:
        logger.warning(
            "calibration: no map of the booster's score beats the base rate on held-out validation leads by "
            "more than a standard error (CV Brier %s, standard error %s): the model has no skill, every lead "
            "gets the base rate %.4f",
            cv_brier,
            cv_brier_se,
            float(y_val.mean()),
        )
    raw_p = 1.0 / (1.0 + np.exp(-margin_val))
    result = CalibrationResult(
        calibrator=calibrator,
        method=chosen,
        cv_brier=cv_brier,
        folds=folds,
        uncalibrated_brier=float(brier_score_loss(y_val, raw_p)),
        cv_brier_se=cv_brier_se,
    )
    logger.info(
        "calibration: %s chosen (CV Brier %s, uncalibrated %.4f)", chosen, cv_brier, result.uncalibrated_brier
    )
    return result
