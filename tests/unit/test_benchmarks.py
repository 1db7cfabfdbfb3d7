"""The benchmarks' own arithmetic and dispatch: the paired AUC bootstrap and `python -m benchmarks.run`."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from benchmarks import run
from benchmarks.quality import _auc_batch, paired_auc_difference


def test_auc_batch_with_unit_weights_equals_sklearn_including_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500).astype(np.float64)
    p = np.round(rng.random(500) + 0.3 * y, 1)  # rounding makes many ties
    ours = _auc_batch(p, y, np.ones((1, 500)))[0]
    assert ours == pytest.approx(roc_auc_score(y, p), abs=1e-12)


def test_auc_batch_weights_count_rows_like_repeating_them() -> None:
    y = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.2])
    counts = np.array([[2.0, 1.0, 0.0, 3.0, 1.0]])
    repeated = np.repeat(np.arange(5), counts[0].astype(int))
    assert _auc_batch(p, y, counts)[0] == pytest.approx(roc_auc_score(y[repeated], p[repeated]))


def test_paired_difference_sees_a_real_gap_and_no_gap_between_equal_models() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000).astype(np.float64)
    good = y + rng.normal(0, 0.8, 2000)
    poor = y + rng.normal(0, 2.0, 2000)
    estimate, low, high = paired_auc_difference(y, good, poor, n_boot=300, seed=0)
    assert estimate == pytest.approx(roc_auc_score(y, good) - roc_auc_score(y, poor))
    assert 0 < low < estimate < high
    same = paired_auc_difference(y, good, good, n_boot=100, seed=0)
    assert same == (0.0, 0.0, 0.0)


def test_dispatcher_rejects_an_unknown_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    assert run.main(["nope"]) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err


def test_seed_spread_reruns_the_pipeline_per_seed_and_counts_the_runs_meeting_the_target() -> None:
    from benchmarks.quality import DATASETS, SeedRun, load_dataset_params, render_seed_spread, run_seeds

    params = load_dataset_params(DATASETS["simulated"], n_leads=2500)
    runs = run_seeds(DATASETS["simulated"], params, [5, 5, 6])
    assert [r.seed for r in runs] == [5, 5, 6]
    assert runs[0] == runs[1]  # same seed, same data and params: the same model and figures
    assert runs[2] != runs[0]  # another seed draws another CRM and another model
    assert all(0.6 < r.auc < 1.0 and 0.0 <= r.ece < 0.2 for r in runs)

    made_up = [SeedRun(1, 0.88, 0.029, "isotonic"), SeedRun(2, 0.87, 0.031, "sigmoid")]
    table = render_seed_spread([("x", made_up)], max_ece=0.03)
    row = table.splitlines()[-1]
    assert row.startswith("| x | 1, 2 | 0.029 0.031 | 0.030 [0.029, 0.031] | 1 of 2 | 0.875 [0.870, 0.880] |")
    assert "isotonic x1, sigmoid x1" in row
