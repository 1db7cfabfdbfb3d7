"""FeatureTransformer: raw feature columns -> the float64 model matrix, with vocabularies frozen at fit.

Categorical features become LightGBM native categoricals through integer codes: the vocabulary (levels seen at
least ``min_category_count`` times in training, at most ``max_categories`` of them, most frequent first) is
frozen at ``fit``. At ``transform`` a rare or never-seen level maps to the "other" code and a missing value to
its own code, so a new industry in production neither crashes scoring nor borrows another level's effect.
Numeric features pass through as float64 with NaN (LightGBM learns where missing values go).

The transformer follows sklearn's fit/transform contract so it can be checked with sklearn's estimator checks
and travel inside the scoring bundle like LightGBM's ``pandas_categorical``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from leadscore.core.errors import SchemaError
from leadscore.features.columns import SMALL_BATCH, category_string, to_category, to_numeric

logger = logging.getLogger(__name__)


def _named_columns(X: Any) -> tuple[list[str], dict[str, np.ndarray]] | None:
    """Column names and columns of a DataFrame, a mapping or a FeatureBatch; None for array input."""
    _reject_sparse(X)  # before the Mapping test: scipy's DOK format is a dict
    if hasattr(X, "features") and isinstance(X.features, Mapping):  # a FeatureBatch
        X = X.features
    if isinstance(X, pd.DataFrame):
        return [str(c) for c in X.columns], {str(c): X[c].to_numpy() for c in X.columns}
    if isinstance(X, Mapping):
        return [str(c) for c in X], {str(c): np.asarray(v) for c, v in X.items()}
    return None


def _reject_sparse(X: Any) -> None:
    if sp.issparse(X):
        raise TypeError("Sparse data was passed, but dense data is required (FeatureTransformer)")


def _array_columns(arr: np.ndarray) -> tuple[list[str], dict[str, np.ndarray]]:
    names = [f"x{i}" for i in range(arr.shape[1])]
    return names, {name: arr[:, i] for i, name in enumerate(names)}


def _float_column(values: Any, name: str) -> np.ndarray:
    # build_features already hands numeric features over as float64 arrays; anything else is normalised.
    if type(values) is np.ndarray and values.dtype == np.float64:
        return values
    return to_numeric(values, name)


def _category_code(vocabulary: Mapping[str, int], value: Any) -> int:
    """Code of one categorical value: its level, "other" (len) for an unseen one, "missing" (len + 1)."""
    hit = vocabulary.get(value) if isinstance(value, str) else None
    if hit is not None:
        return hit
    text = category_string(value)
    if text is None:
        return len(vocabulary) + 1
    return vocabulary.get(text, len(vocabulary))


class FeatureTransformer(TransformerMixin, BaseEstimator):
    """Encode raw features into the model matrix (float64, NaN for missing numerics).

    Args:
        categorical_features: names (or column positions for array input) of the categorical features.
        min_category_count: levels seen fewer times at fit are pooled into "other".
        max_categories: at most this many levels keep their own code.
    """

    def __init__(
        self,
        categorical_features: Sequence[str | int] = (),
        min_category_count: int = 20,
        max_categories: int = 50,
    ) -> None:
        self.categorical_features = categorical_features
        self.min_category_count = min_category_count
        self.max_categories = max_categories

    def _categorical_names(self, names: list[str], named: bool) -> set[str]:
        out: set[str] = set()
        for item in self.categorical_features:
            if isinstance(item, int | np.integer) and not isinstance(item, bool):
                out.add(names[int(item)])
            elif item in names:
                out.add(str(item))
            else:
                raise SchemaError(f"categorical feature {item!r} is not among the input columns")
        return out

    def fit(self, X: Any, y: Any = None) -> FeatureTransformer:
        """Freeze the column order and the category vocabularies.

        Args:
            X: DataFrame, mapping name -> array, FeatureBatch or 2-D array of raw features.
            y: ignored.
        """
        named_columns = _named_columns(X)
        named = named_columns is not None
        if named_columns is None:
            # Plain arrays (sklearn's contract; the pipeline passes named columns): numeric only, NaN allowed.
            _reject_sparse(X)
            arr = validate_data(self, X, dtype="numeric", ensure_all_finite="allow-nan", reset=True)
            named_columns = _array_columns(arr)
        names, columns = named_columns
        if not names:
            raise ValueError("cannot fit a FeatureTransformer on zero columns")
        n_rows = len(next(iter(columns.values())))
        if n_rows == 0:
            raise ValueError("cannot fit a FeatureTransformer on 0 samples")
        categorical = self._categorical_names(names, named)
        vocabularies: dict[str, dict[str, int]] = {}
        for name in names:
            if name in categorical:
                values = pd.Series(to_category(columns[name]), dtype=object).dropna()
                counts = values.value_counts()
                levels = sorted(
                    ((int(c), str(v)) for v, c in counts.items() if c >= self.min_category_count),
                    key=lambda item: (-item[0], item[1]),
                )[: self.max_categories]
                vocabularies[name] = {level: code for code, (_, level) in enumerate(levels)}
            else:
                values_num = to_numeric(columns[name], name)
                if np.isinf(values_num).any():
                    raise ValueError(f"feature {name!r} contains infinite values")
        self.feature_names_out_ = np.array(names, dtype=object)
        self.categorical_indices_ = [i for i, name in enumerate(names) if name in categorical]
        self.vocabularies_ = vocabularies
        self.n_features_in_ = len(names)
        if named:
            self.feature_names_in_ = np.array(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def __sklearn_tags__(self) -> Any:
        """Missing values are part of the contract (numerics pass NaN through)."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def other_code(self, name: str) -> int:
        """Code of the pooled "other" level of a categorical feature."""
        return len(self.vocabularies_[name])

    def missing_code(self, name: str) -> int:
        """Code of a missing value of a categorical feature."""
        return len(self.vocabularies_[name]) + 1

    def levels(self, name: str) -> list[str]:
        """Level text per code of a categorical feature, "other" and "(missing)" last."""
        return [*self.vocabularies_[name], "other", "(missing)"]

    def _encode(self, name: str, values: np.ndarray) -> np.ndarray:
        vocabulary = self.vocabularies_[name]
        missing = len(vocabulary) + 1

        def code(value: Any) -> int:
            return _category_code(vocabulary, value)

        if len(values) < SMALL_BATCH:
            return np.array([code(v) for v in values], dtype=np.float64)
        codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
        table = np.array([code(v) for v in uniques] + [missing], dtype=np.float64)
        return table[codes]

    def transform(self, X: Any) -> np.ndarray:
        """Model matrix (n, n_features) float64 in the fitted column order.

        Raises:
            SchemaError: a fitted column is missing (named) or a numeric column holds text.
        """
        check_is_fitted(self, "vocabularies_")
        named_columns = _named_columns(X)
        fitted = list(self.feature_names_out_)
        if named_columns is None:
            _reject_sparse(X)
            arr = validate_data(self, X, dtype="numeric", ensure_all_finite="allow-nan", reset=False)
            columns = dict(zip(fitted, _array_columns(arr)[1].values(), strict=True))
        else:
            columns = named_columns[1]
        return self.encode_columns(columns)

    def encode_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """``transform`` of named numpy columns (a FeatureBatch's), minus sklearn's wrapper and input checks.

        The scoring bundle calls this directly: for one API lead the generic ``transform`` entry (output
        wrapper, container sniffing) cost as much as the encoding. Same encoding, same matrix.

        Raises:
            SchemaError: a fitted column is missing or a numeric column holds text.
        """
        fitted = self.feature_names_out_.tolist()
        missing = [name for name in fitted if name not in columns]
        if missing:
            raise SchemaError(f"feature column {missing[0]!r} is missing")
        vocabularies = self.vocabularies_
        n_rows = len(columns[fitted[0]])
        if n_rows == 1:
            # One API lead: one Python float (or code) per feature, then one small array; the same values
            # the per-column route below puts in the matrix.
            row = []
            for name in fitted:
                values = columns[name]
                vocabulary = vocabularies.get(name)
                if vocabulary is not None:
                    row.append(_category_code(vocabulary, next(iter(values))))
                elif type(values) is np.ndarray and values.dtype == np.float64:
                    row.append(values.item(0))  # a Python float: numpy builds the row from those fastest
                else:
                    row.append(_float_column(values, name)[0])
            return np.array([row], dtype=np.float64)
        if n_rows < SMALL_BATCH:
            # Few rows: convert column by column, then one copy into the matrix (per-column slice
            # assignment is the larger fixed cost here).
            encoded = [
                self._encode(name, columns[name])
                if name in vocabularies
                else _float_column(columns[name], name)
                for name in fitted
            ]
            return np.ascontiguousarray(np.array(encoded, dtype=np.float64).reshape(len(fitted), n_rows).T)
        out = np.empty((n_rows, len(fitted)), dtype=np.float64)
        for i, name in enumerate(fitted):
            if name in vocabularies:
                out[:, i] = self._encode(name, columns[name])
            else:
                out[:, i] = to_numeric(columns[name], name)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output column names (same as the fitted input names)."""
        check_is_fitted(self, "vocabularies_")
        return self.feature_names_out_.copy()

    def state(self) -> dict[str, Any]:
        """JSON-ready fitted state (vocabularies, column order) for hashing and metadata."""
        check_is_fitted(self, "vocabularies_")
        return {
            "features": list(self.feature_names_out_),
            "categorical": [self.feature_names_out_[i] for i in self.categorical_indices_],
            "vocabularies": {name: list(vocab) for name, vocab in self.vocabularies_.items()},
            "min_category_count": self.min_category_count,
            "max_categories": self.max_categories,
        }
