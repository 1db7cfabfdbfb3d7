"""CBPE: label-free estimates agree with realized metrics when outcomes follow the calibrated
probabilities."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from leadscore.monitoring import MonitoringInputError
from leadscore.monitoring import metrics as m
from leadscore.monitoring.cbpe import CBPE, expected_auc, expected_metrics


def scored(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.beta(1.0, 7.0, n)
    return pd.DataFrame(
        {
            "probability": p,
            "label": (rng.random(n) < p).astype(int),
            "month": rng.choice(["2025-01", "2025-02"], n),
        }
    )


def test_expected_auc_equals_the_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(40)
    s = np.round(p, 1)  # ties in the ranking score
    num = den = 0.0
    for i, j in itertools.permutations(range(40), 2):
        w = p[i] * (1 - p[j])
        den += w
        num += w * ((s[i] > s[j]) + 0.5 * (s[i] == s[j]))
    assert expected_auc(p, s) == pytest.approx(num / den, abs=1e-12)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cbpe_estimates_match_realized_metrics_on_calibrated_simulation(seed: int) -> None:
    frame = scored(20_000, seed)
    y, p = frame["label"].to_numpy(float), frame["probability"].to_numpy()
    result = CBPE(threshold=0.25).calculate(frame.drop(columns="label"))
    est = result.metrics
    assert est["expected_auc"] == pytest.approx(m.roc_auc(y, p), abs=0.02)
    assert est["expected_base_rate"] == pytest.approx(y.mean(), abs=0.006)
    realized = m.confusion_at_threshold(y, p, 0.25)
    assert est["expected_precision"] == pytest.approx(realized["precision"], abs=0.03)
    assert est["expected_recall"] == pytest.approx(realized["recall"], abs=0.03)
    assert est["expected_brier"] == pytest.approx(m.brier_score(y, p), abs=0.004)
    # The realized AUC falls inside the Monte-Carlo band of what calibration predicts.
    assert result.band["auc"]["low"] - 0.005 <= m.roc_auc(y, p) <= result.band["auc"]["high"] + 0.005


def test_cbpe_with_predicted_column_uses_those_decisions() -> None:
    frame = scored(5000, seed=4)
    frame["is_mql"] = frame["probability"] >= frame["probability"].quantile(0.7)
    with_col = CBPE(predicted_column="is_mql").calculate(frame)
    assert with_col.metrics["predicted_positive_rate"] == pytest.approx(0.3, abs=0.001)
    p = frame["probability"].to_numpy()
    assert with_col.metrics["expected_precision"] == pytest.approx(p[frame["is_mql"]].mean())


def test_fit_reports_reference_gap_and_recalibration_repairs_a_miscalibrated_score() -> None:
    frame = scored(20_000, seed=5)
    frame["probability"] = expit(logit(frame["probability"]) + 1.0)  # every score too high
    y = frame["label"].to_numpy(float)
    naive = CBPE(threshold=0.3).fit(frame).calculate(frame.drop(columns="label"))
    assert naive.metrics["expected_base_rate"] - y.mean() > 0.05
    fixed = CBPE(threshold=0.3, recalibrate=True).fit(frame).calculate(frame.drop(columns="label"))
    assert fixed.metrics["expected_base_rate"] == pytest.approx(y.mean(), abs=0.005)
    assert fixed.reference is not None
    assert fixed.reference["realized_base_rate"] == pytest.approx(y.mean())


def test_chunks_cover_every_period_and_add_up() -> None:
    frame = scored(6000, seed=6)
    result = CBPE(threshold=0.2, n_simulations=0).calculate(frame, chunk_column="month")
    assert result.chunks is not None
    assert result.chunks["chunk"].tolist() == ["2025-01", "2025-02"]
    assert result.chunks["n"].sum() == 6000
    assert result.chunks["expected_positives"].sum() == pytest.approx(result.metrics["expected_positives"])
    assert result.band == {}
    json.dumps(result.to_dict(), allow_nan=False)


def test_expected_metrics_without_rule_has_no_confusion_keys() -> None:
    out = expected_metrics(np.array([0.1, 0.9]))
    assert "expected_precision" not in out
    assert out["expected_brier"] == pytest.approx(0.09)


def test_missing_probability_column_is_a_clear_error() -> None:
    with pytest.raises(MonitoringInputError, match="probability"):
        CBPE().calculate(pd.DataFrame({"score": [1, 2]}))
