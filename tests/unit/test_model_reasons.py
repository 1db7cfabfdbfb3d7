import lightgbm as lgb
import numpy as np
import pytest

from leadscore.features.build import FeatureBatch
from leadscore.features.describe import ReasonGroup, activity_words
from leadscore.models.reasons import fit_explainer, measure_fidelity

NAMES = ["visits", "plan", "noise"]


@pytest.fixture(scope="module")
def additive() -> tuple[lgb.Booster, np.ndarray]:
    rng = np.random.default_rng(5)
    n = 6000
    visits = rng.integers(0, 6, n).astype(float)
    visits[rng.random(n) < 0.1] = np.nan
    plan = rng.integers(0, 4, n).astype(float)  # categorical codes
    noise = rng.integers(0, 3, n).astype(float)
    logit = -1 + 0.5 * np.nan_to_num(visits, nan=-1) + np.array([0.0, 1.0, -1.0, 0.5])[plan.astype(int)]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = np.column_stack([visits, plan, noise])
    # Depth-1 trees: every tree reads one feature, so each feature's TreeSHAP value depends on it alone.
    params = {
        "objective": "binary",
        "max_depth": 1,
        "num_leaves": 2,
        "verbosity": -1,
        "num_threads": 1,
        "seed": 0,
        "min_data_per_group": 5,
        "cat_smooth": 1,
    }
    booster = lgb.train(params, lgb.Dataset(X, y, feature_name=NAMES, categorical_feature=[1]), 80)
    return booster, X


def _groups() -> list[ReasonGroup]:
    return [
        ReasonGroup(
            "visits",
            ("visits",),
            "bins",
            "visits",
            ("Few visits", "Many visits", "Visits unknown"),
            (3.0,),
            ("features", "visits"),
        ),
        ReasonGroup(
            "plan",
            ("plan",),
            "codes",
            "plan",
            ("Free", "Pro", "Team", "Other", "(missing)"),
            value_from=("features", "plan"),
        ),
        ReasonGroup(
            "noise", ("noise",), "bins", "noise", ("Low", "High", "?"), (1.0,), ("features", "noise")
        ),
    ]


def _explainer(additive):  # noqa: ANN001, ANN202
    booster, X = additive
    return fit_explainer(booster, X[:3000], NAMES, [1], _groups(), {1: 5})


def test_lookup_tables_reproduce_exact_treeshap_for_an_additive_model(additive) -> None:  # noqa: ANN001
    booster, X = additive
    explainer = _explainer(additive)
    approx = explainer.impacts(X[3000:])
    exact = explainer.impacts(X[3000:], booster, exact=True)
    np.testing.assert_allclose(approx, exact, atol=1e-9)
    fidelity = measure_fidelity(explainer, booster, X[3000:3500])
    assert fidelity["impact_correlation"] > 0.999
    assert fidelity["top1_positive_agreement"] == 1.0


def test_reasons_are_signed_sorted_and_worded(additive) -> None:  # noqa: ANN001
    booster, X = additive
    explainer = _explainer(additive)
    rows = X[3000:3200]
    batch = FeatureBatch(
        np.array([f"L{i}" for i in range(len(rows))], dtype=object),
        None,
        {n: rows[:, j] for j, n in enumerate(NAMES)},
        {},
    )
    impacts = explainer.impacts(rows)
    positive, negative = explainer.explain(rows, batch, impacts, top_k=2)
    assert len(positive) == len(rows)
    for pos, neg in zip(positive, negative, strict=True):
        assert len(pos) <= 2
        assert len(neg) <= 2
        assert all(r["impact"] > 0 for r in pos)
        assert all(r["impact"] < 0 for r in neg)
        assert [r["impact"] for r in pos] == sorted((r["impact"] for r in pos), reverse=True)
        assert [r["impact"] for r in neg] == sorted(r["impact"] for r in neg)
        for r in pos + neg:
            assert set(r) == {"feature", "label", "value", "impact"}
    i = int(np.flatnonzero(rows[:, 1] == 1)[0])  # plan code 1 ("Pro") has the strongest positive effect
    assert positive[i][0] == {
        "feature": "plan",
        "label": "Pro",
        "value": 1.0,
        "impact": positive[i][0]["impact"],
    }
    j = int(np.flatnonzero(np.isnan(rows[:, 0]))[0])
    visits = next(r for r in positive[j] + negative[j] if r["feature"] == "visits")
    assert visits["label"] == "Visits unknown"
    assert visits["value"] is None


def test_unknown_activity_types_get_generic_wording() -> None:
    assert activity_words("demo_request") == ("Requested a demo", "demo requests")
    assert activity_words("fax_received") == ("Had 'fax received' activity", "'fax received' activity")


def test_batch_and_single_row_lookups_agree_exactly(additive) -> None:  # noqa: ANN001
    _, X = additive
    explainer = _explainer(additive)
    rows = X[3000:3300]  # large enough for the per-feature batch path
    batch = explainer.feature_impacts(rows)
    single = np.vstack([explainer.feature_impacts(rows[i : i + 1]) for i in range(len(rows))])
    np.testing.assert_array_equal(batch, single)
