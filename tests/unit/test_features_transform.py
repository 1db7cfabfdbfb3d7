import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from leadscore.core.errors import SchemaError
from leadscore.features.transform import FeatureTransformer


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    industry = np.array(["Software"] * 50 + ["Retail"] * 30 + ["Mining"] * 3 + [None] * 7, dtype=object)
    return pd.DataFrame({"industry": rng.permutation(industry), "employees": rng.normal(size=90)})


def test_fit_transform_is_deterministic() -> None:
    frame = _frame()
    a = FeatureTransformer(["industry"], min_category_count=5).fit(frame)
    b = FeatureTransformer(["industry"], min_category_count=5).fit(frame.copy())
    assert a.vocabularies_ == b.vocabularies_ == {"industry": {"Software": 0, "Retail": 1}}
    np.testing.assert_array_equal(a.transform(frame), b.transform(frame))
    np.testing.assert_array_equal(a.transform(frame), a.transform(frame))


def test_rare_unseen_and_missing_categories_get_their_codes() -> None:
    t = FeatureTransformer(["industry"], min_category_count=5).fit(_frame())
    new = pd.DataFrame(
        {"industry": ["Software", "Mining", "Space Travel", None, np.nan, " Retail "], "employees": 1.0}
    )
    codes = t.transform(new)[:, 0].tolist()
    other, missing = t.other_code("industry"), t.missing_code("industry")
    assert codes == [0, other, other, missing, missing, 1]
    assert t.levels("industry") == ["Software", "Retail", "other", "(missing)"]


def test_max_categories_keeps_the_most_frequent_levels() -> None:
    t = FeatureTransformer(["industry"], min_category_count=1, max_categories=1).fit(_frame())
    assert list(t.vocabularies_["industry"]) == ["Software"]


def test_numeric_columns_pass_through_with_nan() -> None:
    t = FeatureTransformer(["industry"]).fit(_frame())
    out = t.transform(pd.DataFrame({"industry": ["x"], "employees": [np.nan]}))
    assert out.dtype == np.float64
    assert np.isnan(out[0, 1])


def test_missing_feature_column_is_named() -> None:
    t = FeatureTransformer(["industry"]).fit(_frame())
    with pytest.raises(SchemaError, match="employees"):
        t.transform(pd.DataFrame({"industry": ["x"]}))


def test_numeric_text_is_a_schema_error_naming_the_column() -> None:
    t = FeatureTransformer(["industry"]).fit(_frame())
    with pytest.raises(SchemaError, match="employees"):
        t.transform(pd.DataFrame({"industry": ["x"], "employees": ["lots"]}))


def test_category_text_of_numbers_is_canonical() -> None:
    frame = pd.DataFrame({"plan": [3.0] * 30 + [4.0] * 30})
    t = FeatureTransformer(["plan"]).fit(frame)
    codes = t.transform(pd.DataFrame({"plan": np.array([3, "3", 3.0, "4"], dtype=object)}))[:, 0]
    assert codes.tolist() == [0.0, 0.0, 0.0, 1.0]


@parametrize_with_checks(
    [FeatureTransformer(), FeatureTransformer(categorical_features=[0], min_category_count=1)]
)
def test_sklearn_estimator_contract(estimator, check) -> None:  # noqa: ANN001
    check(estimator)
