"""Baselines leadscore must beat: what a data scientist or a RevOps team would build by hand.

Every baseline reads the same feature frame leadscore trains on (the featurize stage's raw feature columns,
after the leakage detector's exclusions), so a difference in quality comes from the model, not from the
inputs. Each follows one small contract: ``fit(train, y_train, validation, y_validation)`` then
``predict_proba(frame) -> P(won)``. The validation period picks the one knob each model has (regularisation,
number of trees), as it picks leadscore's number of trees. With ``refit_on_validation`` (the default) the
final model is then refit on train + validation, which gives the baselines *more* fitting data than
leadscore's booster (which keeps validation for early stopping and calibration): the conservative variant
of the comparison; benchmarks.quality reports both.

* ``LogisticBaseline``: one-hot categoricals (rare levels pooled) + median-imputed, standardised numerics
  with missing-value indicators; L2 strength chosen on validation log loss.
* ``HistGBBaseline``: scikit-learn's HistGradientBoostingClassifier with native categorical support; the
  number of trees is chosen on validation log loss.
* ``PointsBaseline``: a hand points rule (``PointsRule``), the classic BANT scorecard. Points rank leads; a
  one-feature logistic fit on train + validation turns points into probabilities for Brier/ECE, constrained to
  a positive slope so the mapping never reorders leads (the rule's ranking is what is being judged).

The rules (``RULES``) are written from the datasets' documentation (PROVENANCE.md) and sales common sense, not
fitted to the data; ``describe_rule`` renders one for the results page.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from leadscore.core.errors import SchemaError

logger = logging.getLogger(__name__)

# HistGradientBoosting bins categoricals into at most 255 codes, one of which is reserved for missing values.
HGB_MAX_CATEGORIES = 250
LOGISTIC_C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


class Baseline(Protocol):
    """The contract every benchmarked model follows."""

    name: str

    def fit(
        self, train: pd.DataFrame, y_train: np.ndarray, validation: pd.DataFrame, y_validation: np.ndarray
    ) -> Baseline:
        """Fit on train, tune on validation, refit as the model documents."""
        ...

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(won) per row of ``frame``."""
        ...


# ---- shared input preparation --------------------------------------------------------------------------
def _require(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(f"baseline input lacks column {missing[0]!r} ({len(missing)} missing)")


@dataclass
class CategoryCoder:
    """Categorical columns -> integer codes with a vocabulary frozen at fit.

    Levels seen at least ``min_count`` times (at most ``max_levels``, most frequent first) keep their own code
    0..k-1; rare and unseen levels share code k ("other"), missing values get k+1, since missingness is often
    informative in CRM exports. Coding once with pandas is much faster than sklearn's encoders on object
    columns, and gives both baselines the same pooling leadscore's transformer applies.
    """

    columns: Sequence[str]
    min_count: int = 20
    max_levels: int = HGB_MAX_CATEGORIES - 2
    vocabularies_: dict[str, pd.Index] = field(default_factory=dict, init=False)

    def fit(self, frame: pd.DataFrame) -> CategoryCoder:
        """Learn each column's kept levels."""
        _require(frame, self.columns)
        self.vocabularies_ = {}
        for column in self.columns:
            counts = frame[column].dropna().astype(str).value_counts()
            kept = counts[counts >= self.min_count].index[: self.max_levels]
            self.vocabularies_[column] = pd.Index(kept)
        return self

    def n_codes(self, column: str) -> int:
        """Number of codes of a column (kept levels + other + missing)."""
        return len(self.vocabularies_[column]) + 2

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Integer codes, shape (rows, columns), float64 for sklearn."""
        _require(frame, self.columns)
        out = np.empty((len(frame), len(self.columns)), dtype=np.float64)
        for j, column in enumerate(self.columns):
            values = frame[column]
            vocab = self.vocabularies_[column]
            codes = vocab.get_indexer(values.astype(str)).astype(np.float64)
            codes[codes < 0] = len(vocab)  # rare or unseen
            codes[values.isna().to_numpy()] = len(vocab) + 1
            out[:, j] = codes
        return out


def _numeric_matrix(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    _require(frame, columns)
    if not columns:
        return np.empty((len(frame), 0))
    return np.column_stack(
        [
            pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            for c in columns
        ]
    )


def _usable_numeric(frame: pd.DataFrame, numeric: Sequence[str]) -> list[str]:
    """Numeric columns with at least one value (an all-missing column breaks median imputation)."""
    return [c for c in numeric if pd.to_numeric(frame[c], errors="coerce").notna().any()]


def _positive_share(y: np.ndarray) -> float:
    return float(np.mean(y)) if len(y) else float("nan")


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean log loss in plain numpy (called once per boosting stage: sklearn's input checks cost more)."""
    pc = np.clip(p, 1e-9, 1 - 1e-9)
    return float(-np.mean(y * np.log(pc) + (1 - y) * np.log1p(-pc)))


# ---- logistic regression -------------------------------------------------------------------------------
@dataclass
class LogisticBaseline:
    """One-hot logistic regression, the textbook lead-scoring model.

    Args:
        categorical: categorical feature columns (one-hot, levels rarer than ``min_category_count`` pooled).
        numeric: numeric feature columns (median-imputed with a missing indicator, then standardised).
        min_category_count: pooling threshold for rare levels (the same default as leadscore's transformer).
        c_grid: inverse L2 strengths tried on the validation period.
        seed: solver seed (the solver is deterministic; kept for symmetry).
        refit_on_validation: refit the chosen model on train + validation (default); False keeps the model
            fitted on train only, the same data leadscore's booster sees.
    """

    categorical: Sequence[str]
    numeric: Sequence[str]
    min_category_count: int = 20
    c_grid: Sequence[float] = LOGISTIC_C_GRID
    seed: int = 0
    refit_on_validation: bool = True
    name: str = "logistic regression (one-hot)"
    chosen_c_: float = field(default=float("nan"), init=False)
    model_: Pipeline | None = field(default=None, init=False, repr=False)
    coder_: CategoryCoder | None = field(default=None, init=False, repr=False)
    numeric_used_: list[str] = field(default_factory=list, init=False)

    def _encoder(self, coder: CategoryCoder) -> ColumnTransformer:
        n_cat = len(self.categorical)
        categories = [list(range(coder.n_codes(c))) for c in self.categorical]
        return ColumnTransformer(
            [
                ("categorical", OneHotEncoder(categories=categories, dtype=np.float64), list(range(n_cat))),
                (
                    "numeric",
                    Pipeline(
                        [
                            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
                            ("scale", StandardScaler()),
                        ]
                    ),
                    list(range(n_cat, n_cat + len(self.numeric_used_))),
                ),
            ],
            sparse_threshold=0.0,
        )

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        assert self.coder_ is not None
        return np.hstack([self.coder_.transform(frame), _numeric_matrix(frame, self.numeric_used_)])

    def _model(self, c: float) -> LogisticRegression:
        # newton-cholesky: exact and fast for a few hundred dense columns and many rows.
        return LogisticRegression(C=c, solver="newton-cholesky", max_iter=200, random_state=self.seed)

    def fit(
        self, train: pd.DataFrame, y_train: np.ndarray, validation: pd.DataFrame, y_validation: np.ndarray
    ) -> LogisticBaseline:
        """Pick C on validation log loss, then refit (on train + validation unless told otherwise)."""
        self.numeric_used_ = _usable_numeric(train, self.numeric)
        self.coder_ = CategoryCoder(self.categorical, self.min_category_count).fit(train)
        encoder = self._encoder(self.coder_)
        X_train = encoder.fit_transform(self._matrix(train))
        X_val = encoder.transform(self._matrix(validation))
        losses = {
            c: _log_loss(y_validation, self._model(c).fit(X_train, y_train).predict_proba(X_val)[:, 1])
            for c in self.c_grid
        }
        self.chosen_c_ = min(losses, key=lambda c: losses[c])
        data, y = train, y_train
        if self.refit_on_validation:
            data, y = pd.concat([train, validation], axis=0), np.r_[y_train, y_validation]
        self.coder_ = CategoryCoder(self.categorical, self.min_category_count).fit(data)
        self.model_ = Pipeline(
            [("encode", self._encoder(self.coder_)), ("model", self._model(self.chosen_c_))]
        )
        self.model_.fit(self._matrix(data), y)
        best = losses[self.chosen_c_]
        logger.info("logistic baseline: C=%g (validation log loss %.4f)", self.chosen_c_, best)
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(won) per row."""
        if self.model_ is None:
            raise RuntimeError("LogisticBaseline is not fitted")
        return self.model_.predict_proba(self._matrix(frame))[:, 1]


# ---- histogram gradient boosting -----------------------------------------------------------------------
@dataclass
class HistGBBaseline:
    """scikit-learn HistGradientBoostingClassifier with native categorical splits.

    Args:
        categorical: categorical feature columns (integer-coded; rare levels pooled, at most 250 codes).
        numeric: numeric feature columns (NaN handled natively).
        min_category_count: pooling threshold for rare levels.
        max_iter: upper bound on trees; the validation period picks the number actually used.
        learning_rate: shrinkage.
        seed: random_state.
        refit_on_validation: refit with the chosen number of trees on train + validation (default); False
            keeps the model fitted on train only.
    """

    categorical: Sequence[str]
    numeric: Sequence[str]
    min_category_count: int = 20
    max_iter: int = 500
    learning_rate: float = 0.05
    seed: int = 0
    refit_on_validation: bool = True
    name: str = "HistGradientBoosting"
    chosen_iter_: int = field(default=0, init=False)
    model_: HistGradientBoostingClassifier | None = field(default=None, init=False, repr=False)
    coder_: CategoryCoder | None = field(default=None, init=False, repr=False)

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        assert self.coder_ is not None
        return np.hstack([self.coder_.transform(frame), _numeric_matrix(frame, self.numeric)])

    def _model(self, max_iter: int) -> HistGradientBoostingClassifier:
        n_cat = len(self.categorical)
        mask = np.r_[np.ones(n_cat, dtype=bool), np.zeros(len(self.numeric), dtype=bool)]
        return HistGradientBoostingClassifier(
            learning_rate=self.learning_rate,
            max_iter=max_iter,
            categorical_features=mask if n_cat else None,
            early_stopping=False,  # the out-of-time validation period decides, not a random holdout
            l2_regularization=1.0,
            random_state=self.seed,
        )

    def fit(
        self, train: pd.DataFrame, y_train: np.ndarray, validation: pd.DataFrame, y_validation: np.ndarray
    ) -> HistGBBaseline:
        """Pick the number of trees on validation log loss, then refit (train + validation by default)."""
        self.coder_ = CategoryCoder(self.categorical, self.min_category_count).fit(train)
        probe = self._model(self.max_iter).fit(self._matrix(train), y_train)
        losses = [
            _log_loss(y_validation, p[:, 1]) for p in probe.staged_predict_proba(self._matrix(validation))
        ]
        self.chosen_iter_ = int(np.argmin(losses)) + 1
        if not self.refit_on_validation:
            self.model_ = self._model(self.chosen_iter_).fit(self._matrix(train), y_train)
        else:
            both = pd.concat([train, validation], axis=0)
            self.coder_ = CategoryCoder(self.categorical, self.min_category_count).fit(both)
            self.model_ = self._model(self.chosen_iter_).fit(self._matrix(both), np.r_[y_train, y_validation])
        logger.info(
            "HistGradientBoosting baseline: %d trees (validation log loss %.4f)",
            self.chosen_iter_,
            losses[self.chosen_iter_ - 1],
        )
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(won) per row."""
        if self.model_ is None:
            raise RuntimeError("HistGBBaseline is not fitted")
        return self.model_.predict_proba(self._matrix(frame))[:, 1]


# ---- hand points rules ---------------------------------------------------------------------------------
Op = Literal["in", "at_least", "at_most"]


@dataclass(frozen=True)
class Condition:
    """One line of a points rule: ``points`` when ``column`` satisfies ``op value``.

    ``in`` compares category text case-blind; ``at_least`` / ``at_most`` compare numbers (missing never
    matches). Stacked thresholds on one column (>= 500 s: +10, >= 1000 s: +10) build a step function.
    """

    column: str
    op: Op
    value: float | tuple[str, ...]
    points: float
    label: str

    def matches(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean mask of rows the condition fires on (all False when the column is absent)."""
        if self.column not in frame.columns:
            return np.zeros(len(frame), dtype=bool)
        values = frame[self.column]
        if self.op == "in":
            assert isinstance(self.value, tuple)
            wanted = {str(v).casefold() for v in self.value}
            text = values.astype("object").where(values.notna(), None)
            return np.array([v is not None and str(v).casefold() in wanted for v in text], dtype=bool)
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        assert not isinstance(self.value, tuple)
        with np.errstate(invalid="ignore"):
            hit = numbers >= self.value if self.op == "at_least" else numbers <= self.value
        return np.asarray(hit & ~np.isnan(numbers), dtype=bool)


@dataclass(frozen=True)
class PointsRule:
    """A hand scorecard: the sum of the points of every condition a lead meets.

    Attributes:
        name: short name for tables.
        basis: where the rule comes from (documentation, sales practice), for the results page.
        conditions: the lines of the scorecard.
    """

    name: str
    basis: str
    conditions: tuple[Condition, ...]

    @property
    def columns(self) -> list[str]:
        """Input columns the rule reads."""
        return sorted({c.column for c in self.conditions})

    def points(self, frame: pd.DataFrame) -> np.ndarray:
        """Points per row (float64)."""
        absent = [c for c in self.columns if c not in frame.columns]
        if absent:
            logger.warning("points rule %r: columns %s absent, their lines never fire", self.name, absent)
        total = np.zeros(len(frame), dtype=np.float64)
        for condition in self.conditions:
            total += condition.points * condition.matches(frame)
        return total


def describe_rule(rule: PointsRule) -> list[str]:
    """Markdown bullet lines for the results page: each condition with its points."""
    lines = [f"- **{rule.name}** ({rule.basis}):"]
    for c in rule.conditions:
        lines.append(f"  - {c.points:+g}: {c.label} (`{c.column}`)")
    return lines


@dataclass
class PointsBaseline:
    """A points rule with a monotone points -> probability map fitted on train + validation.

    Args:
        rule: the scorecard.
        name: table name (defaults to the rule's name).
    """

    rule: PointsRule
    name: str = ""
    intercept_: float = field(default=float("nan"), init=False)
    slope_: float = field(default=float("nan"), init=False)

    def __post_init__(self) -> None:
        if not self.name:
            self.name = f"points rule ({self.rule.name})"

    def fit(
        self, train: pd.DataFrame, y_train: np.ndarray, validation: pd.DataFrame, y_validation: np.ndarray
    ) -> PointsBaseline:
        """Fit P(won) = sigmoid(a + b * points) with b > 0 (a rule whose points predict the opposite on
        history keeps its ranking and gets a near-flat map at the base rate)."""
        points = np.r_[self.rule.points(train), self.rule.points(validation)]
        y = np.r_[y_train, y_validation]
        rate = min(max(_positive_share(y), 1e-6), 1 - 1e-6)
        self.intercept_, self.slope_ = math.log(rate / (1 - rate)), 0.0
        if np.ptp(points) > 0 and 0 < y.sum() < len(y):
            scale = float(np.std(points))
            model = LogisticRegression(C=1e4, max_iter=1000).fit((points / scale)[:, None], y)
            slope = float(model.coef_[0, 0]) / scale
            if slope > 0:
                self.intercept_, self.slope_ = float(model.intercept_[0]), slope
        # A tiny positive slope keeps ties broken exactly as the points break them.
        self.slope_ = max(self.slope_, 1e-9)
        return self

    def points(self, frame: pd.DataFrame) -> np.ndarray:
        """The rule's raw points."""
        return self.rule.points(frame)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(won) per row, increasing in points."""
        z = self.intercept_ + self.slope_ * self.rule.points(frame)
        return 1.0 / (1.0 + np.exp(-z))


# The simulated CRM has real BANT fields and an activity log: the classic scorecard (budget approved +20,
# C-level or VP +15, timeline under 3 months +15, demo request +25, ...). Intent lines read the 30-day counts
# before as_of, the same point-in-time features leadscore gets.
BANT_RULE = PointsRule(
    name="BANT + engagement",
    basis="the classic BANT scorecard plus engagement points, as RevOps teams write them",
    conditions=(
        Condition("bant_budget", "in", ("approved",), 20, "budget approved"),
        Condition("bant_budget", "in", ("planned",), 8, "budget planned"),
        Condition("bant_authority", "in", ("c_level", "vp"), 15, "C-level or VP contact"),
        Condition("bant_authority", "in", ("director",), 10, "director contact"),
        Condition("bant_authority", "in", ("manager",), 5, "manager contact"),
        Condition("bant_timeframe", "at_most", 1.0, 15, "purchase timeline under 3 months"),
        Condition("bant_timeframe", "at_most", 2.0, 5, "purchase timeline under 6 months"),
        Condition("intent_demo_request_30d", "at_least", 1.0, 25, "demo requested (30 days)"),
        Condition("intent_meeting_booked_30d", "at_least", 1.0, 15, "meeting booked (30 days)"),
        Condition("intent_free_trial_signup_30d", "at_least", 1.0, 15, "free trial started (30 days)"),
        Condition("intent_pricing_page_30d", "at_least", 1.0, 10, "pricing page visited (30 days)"),
        Condition("intent_webinar_attended_30d", "at_least", 1.0, 5, "webinar attended (30 days)"),
        Condition("intent_email_click_30d", "at_least", 1.0, 5, "e-mail link clicked (30 days)"),
    ),
)

# X Education has no BANT fields. Its PROVENANCE.md names the strongest pre-contact signals: Lead Origin
# "Lead Add Form" (converts ~0.92) and Lead Source "Welingak Website"/"Reference", time on the website; an
# admissions team would add "working professional" (the course's audience) and penalise e-mail opt-outs.
X_EDUCATION_RULE = PointsRule(
    name="X Education pre-contact",
    basis="strongest documented pre-contact fields in x_education_leads/PROVENANCE.md",
    conditions=(
        Condition("extra_lead_origin", "in", ("Lead Add Form",), 30, "lead origin: Lead Add Form"),
        Condition(
            "acq_lead_source", "in", ("Welingak Website", "Reference"), 25, "source: Welingak or reference"
        ),
        Condition(
            "extra_what_is_your_current_occupation",
            "in",
            ("Working Professional",),
            25,
            "occupation: working professional",
        ),
        Condition("extra_total_time_spent_on_website", "at_least", 500.0, 10, "500+ s on the website"),
        Condition("extra_total_time_spent_on_website", "at_least", 1000.0, 10, "1,000+ s on the website"),
        Condition("extra_totalvisits", "at_least", 5.0, 5, "5+ website visits"),
        Condition("extra_do_not_email", "in", ("Yes",), -15, "opted out of e-mail"),
    ),
)

# Olist MQLs carry only first contact date, landing page (495 ids) and origin: a marketer ranks by channel
# intent, search and direct traffic first.
OLIST_RULE = PointsRule(
    name="Olist channel",
    basis="the only documented pre-contact field with meaning, origin (olist_marketing_funnel/PROVENANCE.md)",
    conditions=(
        Condition("acq_lead_source", "in", ("paid_search", "organic_search"), 20, "search origin"),
        Condition("acq_lead_source", "in", ("direct_traffic",), 15, "direct traffic"),
        Condition(
            "acq_lead_source",
            "in",
            ("social", "email", "referral", "display", "other_publicities"),
            5,
            "other known marketing channel",
        ),
    ),
)

# Maven opportunities: firmographics and product only. The usual enterprise bias: bigger and older accounts
# close more, cheaper products close more easily.
MAVEN_RULE = PointsRule(
    name="Maven account fit",
    basis="firmographic account-fit points (no pre-sale BANT fields in the export)",
    conditions=(
        Condition("firmo_size_band", "at_least", 4.0, 15, "1,000+ employees"),
        Condition("firmo_size_band", "at_least", 5.0, 5, "5,000+ employees"),
        Condition("firmo_company_age", "at_least", 20.0, 5, "company 20+ years old"),
        Condition("extra_sales_price", "at_most", 1100.0, 10, "list price up to $1,100"),
    ),
)

RULES: Mapping[str, PointsRule] = {
    "simulated": BANT_RULE,
    "x_education": X_EDUCATION_RULE,
    "olist": OLIST_RULE,
    "maven": MAVEN_RULE,
}
