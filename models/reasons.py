"""Per-lead reasons: which inputs pushed a lead's score up or down, in business words.

Why not TreeSHAP per request: LightGBM's ``pred_contrib`` is ~70x slower than ``predict`` (under 1,000 rows/s
on 2 cores), too slow for batch scoring of 20k+ leads/s. Instead, attribution tables are computed once at
training time:

* a sample of training rows gets exact TreeSHAP contributions (``pred_contrib``);
* for each feature, rows are binned by the feature's own value (numeric: the model's own split thresholds,
  merged so each bin has enough rows, plus a missing bin; categorical: one bin per category code);
* the table holds the mean contribution per bin.

At scoring, a lead's contribution of a feature is a table lookup (``np.searchsorted``), fully vectorised. This
is the feature's main effect (exact for an additive model; interactions are averaged out). ``exact=True``
uses ``pred_contrib`` instead, for audits. Fidelity against exact TreeSHAP is measured at training and stored
in the bundle metadata.

Features describing the same thing are summed into one reason (see ``leadscore.features.describe``); impacts
are in log-odds of the raw model (calibration is monotone, so the direction carries over to the probability).
"""

from __future__ import annotations

import gc
import logging
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np

from leadscore.features.build import FeatureBatch
from leadscore.features.describe import ReasonGroup

logger = logging.getLogger(__name__)

# Up to this many leads, reasons are assembled lead by lead in Python (API calls, micro-batches).
SMALL_BATCH_ROWS = 32

MIN_BIN_ROWS = 15  # fewer sample rows than this make a bin's mean contribution noise


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small acyclic containers.

    Assembling reasons creates ~6 dicts per lead; at 20k leads the collector would otherwise run hundreds of
    times over the whole heap (measured: ~40 % of batch scoring time). Nothing built here forms reference
    cycles, so reference counting frees it all anyway. The previous state is restored (safe across threads:
    the collector ends enabled if it was enabled before any overlapping call).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class FeatureTable:
    """Mean TreeSHAP contribution of one feature per value bin.

    Attributes:
        categorical: bins are category codes (value = code) instead of threshold intervals.
        edges: numeric bin edges (bin = number of edges < value, i.e. LightGBM's ``value <= threshold`` goes
            left); empty for categorical.
        values: mean contribution per bin; numeric: len(edges) + 1 bins then the missing-value bin.
    """

    categorical: bool
    edges: np.ndarray
    values: np.ndarray

    def lookup(self, x: np.ndarray) -> np.ndarray:
        """Contribution per lead for this feature's column."""
        if self.categorical:
            codes = np.nan_to_num(x, nan=len(self.values) - 1).astype(np.int64)
            return self.values[np.clip(codes, 0, len(self.values) - 1)]
        bins = np.searchsorted(self.edges, x, side="left")
        bins[np.isnan(x)] = len(self.edges) + 1
        return self.values[bins]


def split_features(booster: lgb.Booster) -> tuple[dict[int, np.ndarray], set[int]]:
    """Sorted distinct numeric split thresholds per feature index, and features with categorical splits."""
    numeric: dict[int, set[float]] = {}
    categorical: set[int] = set()
    stack = [tree["tree_structure"] for tree in booster.dump_model()["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_feature" not in node:
            continue
        feature = int(node["split_feature"])
        if node.get("decision_type") == "<=":
            numeric.setdefault(feature, set()).add(float(node["threshold"]))
        else:
            categorical.add(feature)
        stack += [node["left_child"], node["right_child"]]
    return {f: np.array(sorted(t)) for f, t in numeric.items()}, categorical


def _merge_sparse(edges: np.ndarray, x: np.ndarray, min_rows: int) -> np.ndarray:
    """Drop edges so that every bin holds at least ``min_rows`` sample rows (the last bin may merge back)."""
    finite = np.sort(x[~np.isnan(x)])
    if not len(edges) or len(finite) < 2 * min_rows:
        return edges[:0] if len(finite) < 2 * min_rows else edges
    kept: list[float] = []
    start = 0
    for edge in edges:
        upto = int(np.searchsorted(finite, edge, side="right"))
        if upto - start >= min_rows and len(finite) - upto >= min_rows:
            kept.append(float(edge))
            start = upto
    return np.array(kept)


def _table(x: np.ndarray, contrib: np.ndarray, edges: np.ndarray | None, n_codes: int | None) -> FeatureTable:
    if n_codes is not None:
        codes = np.nan_to_num(x, nan=n_codes - 1).astype(np.int64).clip(0, n_codes - 1)
        sums = np.bincount(codes, weights=contrib, minlength=n_codes)
        counts = np.bincount(codes, minlength=n_codes)
        values = np.divide(sums, counts, out=np.zeros(n_codes), where=counts > 0)
        return FeatureTable(True, np.empty(0), values)
    edges = _merge_sparse(np.empty(0) if edges is None else edges, x, MIN_BIN_ROWS)
    n_bins = len(edges) + 2
    bins = np.searchsorted(edges, x, side="left")
    nan = np.isnan(x)
    bins[nan] = n_bins - 1
    sums = np.bincount(bins, weights=contrib, minlength=n_bins)
    counts = np.bincount(bins, minlength=n_bins)
    values = np.divide(sums, counts, out=np.zeros(n_bins), where=counts > 0)
    filled = np.flatnonzero(counts[:-1] > 0)
    if len(filled):
        # Value bins without sample rows borrow their nearest filled neighbour (contributions are step-wise).
        for b in np.flatnonzero(counts[:-1] == 0):
            values[b] = values[filled[np.argmin(np.abs(filled - b))]]
        if counts[-1] == 0:
            # No missing values in the sample: LightGBM then treats NaN like 0.0.
            values[-1] = values[int(np.searchsorted(edges, 0.0, side="left"))]
    return FeatureTable(False, edges, values)


@dataclass
class ReasonExplainer:
    """Lookup-table attribution plus the reason groups' wording.

    Attributes:
        feature_names: model matrix columns.
        groups: reasons (each sums some features' contributions).
        tables: per feature, its lookup table (None for features the model never splits on: zero impact).
        expected_value: mean raw margin of the sample (the base of the contributions).
        fidelity: agreement with exact TreeSHAP on held-out rows (see ``measure_fidelity``).
    """

    feature_names: list[str]
    groups: list[ReasonGroup]
    tables: list[FeatureTable | None]
    expected_value: float
    fidelity: dict[str, float] | None = None

    def __post_init__(self) -> None:
        """Flatten all tables into a few arrays once, so a lookup is a handful of numpy calls.

        Numeric features: every feature's edges go into one array of complex numbers ``feature + 1j * edge``,
        which numpy orders lexicographically, so a single ``searchsorted`` of ``feature + 1j * value`` bins
        all features at once (position minus the feature's offset = its bin). Categorical features: codes
        index a concatenated value array. Per-call cost no longer grows with the number of features, which
        matters for one-lead API calls as much as for batches.
        """
        self._index = {name: i for i, name in enumerate(self.feature_names)}
        numeric = [j for j, t in enumerate(self.tables) if t is not None and not t.categorical]
        categorical = [j for j, t in enumerate(self.tables) if t is not None and t.categorical]
        edges, edge_offsets, values, value_offsets, nan_bins = [], [], [], [], []
        n_edges = n_values = 0
        for k, j in enumerate(numeric):
            table = self.tables[j]
            assert table is not None
            edges.append(k + 1j * table.edges)
            edge_offsets.append(n_edges)
            value_offsets.append(n_values)
            nan_bins.append(len(table.edges) + 1)
            n_edges += len(table.edges)
            n_values += len(table.values)
            values.append(table.values)
        self._num_cols = np.array(numeric, dtype=np.int64)
        self._num_keys = np.arange(len(numeric), dtype=np.float64)
        self._edges = np.concatenate(edges) if edges else np.empty(0, dtype=np.complex128)
        self._edge_offsets = np.array(edge_offsets, dtype=np.int64)
        self._num_value_offsets = np.array(value_offsets, dtype=np.int64)
        self._nan_bins = np.array(nan_bins, dtype=np.int64)
        self._num_values = np.concatenate(values) if values else np.empty(0)
        self._cat_cols = np.array(categorical, dtype=np.int64)
        sizes = [len(self.tables[j].values) for j in categorical]  # type: ignore[union-attr]
        self._cat_last = np.array(sizes, dtype=np.int64) - 1
        self._cat_offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if sizes else sizes
        self._cat_values = (
            np.concatenate([self.tables[j].values for j in categorical]) if sizes else np.empty(0)
        )  # type: ignore[union-attr]
        # A few leads (the API): plain lists for a Python lookup (column, edges, values / column, values).
        tables = [(j, t) for j, t in enumerate(self.tables) if t is not None]
        self._numeric_lists = [
            (j, t.edges.tolist(), t.values.tolist()) for j, t in tables if not t.categorical
        ]
        self._categorical_lists = [(j, t.values.tolist()) for j, t in tables if t.categorical]
        # Group sums: columns reordered so each group's members are adjacent, then one add.reduceat.
        self._perm = np.array([self._index[m] for g in self.groups for m in g.members], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum([len(g.members) for g in self.groups])[:-1]]).astype(
            np.int64
        )

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the tables only; the flattened arrays are rebuilt on load."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild the flattened lookup arrays after unpickling."""
        self.__dict__.update(state)
        self.__post_init__()

    def feature_impacts(self, X: np.ndarray) -> np.ndarray:
        """Approximate contribution per lead and feature (n, n_features), by table lookup."""
        if len(X) == 1 and np.isfinite(X[0, self._cat_cols]).all():
            return self._feature_impacts_one(X)  # (an infinite code, never encoded, takes numpy's cast)
        out = np.zeros(X.shape, dtype=np.float64)
        if len(self._num_cols) and len(X) >= 256:
            # Large batches: one searchsorted per feature on plain floats beats building complex keys; the
            # bins are the same (same comparisons), so batch and single-lead results agree exactly.
            for j in self._num_cols.tolist():
                table = self.tables[j]
                assert table is not None
                out[:, j] = table.lookup(X[:, j])
        elif len(self._num_cols):
            x = X[:, self._num_cols]
            nan = np.isnan(x)
            keys = self._num_keys + 1j * np.where(nan, 0.0, x)
            bins = self._edges.searchsorted(keys, side="left") - self._edge_offsets
            bins = np.where(nan, self._nan_bins, bins)
            out[:, self._num_cols] = self._num_values[self._num_value_offsets + bins]
        if len(self._cat_cols):
            codes = X[:, self._cat_cols]
            codes = np.where(np.isnan(codes), self._cat_last, codes).astype(np.int64)
            codes = np.minimum(np.maximum(codes, 0), self._cat_last)  # np.clip, minus its Python wrapper
            out[:, self._cat_cols] = self._cat_values[self._cat_offsets + codes]
        return out

    def _feature_impacts_one(self, X: np.ndarray) -> np.ndarray:
        """``feature_impacts`` of one row with Python's bisect.

        The same bins (the same comparisons of the same floats), without the dozen numpy calls whose fixed
        costs dominate a one-row lookup.
        """
        row = X[0].tolist()
        out = [0.0] * len(row)
        for j, edges, values in self._numeric_lists:
            x = row[j]
            out[j] = values[-1] if x != x else values[bisect_left(edges, x)]
        for j, values in self._categorical_lists:
            code, last = row[j], len(values) - 1
            out[j] = values[last if code != code else min(max(int(code), 0), last)]
        return np.array([out], dtype=np.float64)

    def group_impacts(self, feature_impacts: np.ndarray) -> np.ndarray:
        """Sum feature contributions into reasons (n, n_groups), members in a fixed order."""
        if feature_impacts.shape[0] == 0:
            return np.zeros((0, len(self.groups)))
        return np.add.reduceat(feature_impacts[:, self._perm], self._starts, axis=1)

    def impacts(self, X: np.ndarray, booster: lgb.Booster | None = None, exact: bool = False) -> np.ndarray:
        """Reason impacts (log-odds) per lead, by lookup or (``exact=True``) by TreeSHAP with ``booster``."""
        if exact:
            if booster is None:
                raise ValueError("exact reasons need the booster")
            contrib = np.asarray(booster.predict(X, pred_contrib=True))[:, :-1]
            return self.group_impacts(contrib)
        return self.group_impacts(self.feature_impacts(X))

    def explain(
        self, X: np.ndarray, batch: FeatureBatch, impacts: np.ndarray, top_k: int
    ) -> tuple[list[list[dict[str, Any]]], list[list[dict[str, Any]]]]:
        """Top-k positive and negative reasons per lead.

        Each reason is ``{feature, label, value, impact}``; only reasons with a non-zero impact of the right
        sign are listed, strongest first.
        """
        n, n_groups = impacts.shape
        k = max(0, min(top_k, n_groups))
        if n == 0 or k == 0:
            return [[] for _ in range(n)], [[] for _ in range(n)]
        rounded = impacts.round(4)
        if n <= SMALL_BATCH_ROWS:
            return self._explain_few(X, batch, rounded, k)
        order = (-rounded).argsort(axis=1, kind="stable")
        pos_idx = order[:, :k]
        neg_idx = order[:, ::-1][:, :k]
        # Label and value matrices (n, groups), filled only for groups in some lead's top-k. Everything is
        # gathered with numpy first, so the Python loop below only assembles the dicts.
        used = np.unique(np.concatenate([pos_idx.ravel(), neg_idx.ravel()]))
        labels = np.empty((n, n_groups), dtype=object)
        values = np.empty((n, n_groups), dtype=object)
        for g in used.tolist():
            group = self.groups[g]
            codes = group.label_codes(X, self._index)
            labels[:, g] = np.asarray(group.texts, dtype=object)[codes]
            values[:, g] = group.values(batch, X, self._index, codes)
        keys = np.asarray([g.key for g in self.groups], dtype=object)
        with gc_paused():
            positive = self._assemble(keys, labels, values, rounded, pos_idx, 1)
            negative = self._assemble(keys, labels, values, rounded, neg_idx, -1)
        return positive, negative

    def _explain_few(
        self, X: np.ndarray, batch: FeatureBatch, rounded: np.ndarray, k: int
    ) -> tuple[list[list[dict[str, Any]]], list[list[dict[str, Any]]]]:
        """A few leads (API calls): lead by lead, only the reasons that are shown get a label and a value.

        Same selection as the batch assembly (Python's stable sort on -impact orders exactly like the stable
        argsort there), minus the (n, groups) object matrices and the labels of top-k groups whose impact is
        zero, which the batch path computes and then drops; labels and values come from the groups' scalar
        twins of ``label_codes`` / ``values`` (same rules, no arrays).
        """
        groups, index = self.groups, self._index
        positive: list[list[dict[str, Any]]] = []
        negative: list[list[dict[str, Any]]] = []
        for lead, (impacts, row) in enumerate(zip(rounded.tolist(), X.tolist(), strict=True)):
            ranked = sorted(range(len(impacts)), key=lambda g: -impacts[g])
            for side, idx, sign in ((positive, ranked[:k], 1), (negative, ranked[::-1][:k], -1)):
                reasons = []
                for g in idx:
                    impact = impacts[g]
                    if sign * impact > 0:
                        group = groups[g]
                        code = group.label_code_one(row, index)
                        value = group.value_one(batch, row, index, code, lead)
                        reasons.append(
                            {
                                "feature": group.key,
                                "label": group.texts[code],
                                "value": value,
                                "impact": impact,
                            }
                        )
                side.append(reasons)
        return positive, negative

    @staticmethod
    def _assemble(
        keys: np.ndarray,
        labels: np.ndarray,
        values: np.ndarray,
        impacts: np.ndarray,
        idx: np.ndarray,
        sign: int,
    ) -> list[list[dict[str, Any]]]:
        rows = np.arange(len(idx))[:, None]
        features = keys[idx].tolist()
        label_rows = labels[rows, idx].tolist()
        value_rows = values[rows, idx].tolist()
        impact_rows = (sign * impacts[rows, idx]).tolist()
        return [
            [
                {"feature": f, "label": lb, "value": v, "impact": sign * m}
                for f, lb, v, m in zip(fr, lr, vr, mr, strict=True)
                if m > 0
            ]
            for fr, lr, vr, mr in zip(features, label_rows, value_rows, impact_rows, strict=True)
        ]

    def state(self) -> dict[str, Any]:
        """JSON-ready summary for hashing (tables as lists)."""
        return {
            "feature_names": self.feature_names,
            "groups": [[g.key, list(g.members), g.kind, list(g.texts), list(g.edges)] for g in self.groups],
            "tables": [
                None if t is None else [t.categorical, t.edges.tolist(), t.values.tolist()]
                for t in self.tables
            ],
            "expected_value": self.expected_value,
        }


def fit_explainer(
    booster: lgb.Booster,
    X_sample: np.ndarray,
    feature_names: list[str],
    categorical: Sequence[int],
    groups: list[ReasonGroup],
    n_codes: dict[int, int],
) -> ReasonExplainer:
    """Build the lookup tables from exact TreeSHAP on a sample.

    Args:
        booster: the trained booster.
        X_sample: sample of model-matrix rows (training period), a few thousand is plenty.
        feature_names: matrix columns.
        categorical: indices of categorical columns.
        groups: reason groups covering all features.
        n_codes: number of codes (vocabulary + other + missing) per categorical column index.
    """
    contrib = np.asarray(booster.predict(X_sample, pred_contrib=True))
    thresholds, categorical_splits = split_features(booster)
    used = set(thresholds) | categorical_splits
    tables: list[FeatureTable | None] = []
    cat = set(categorical)
    for j in range(len(feature_names)):
        if j not in used:
            tables.append(None)
        elif j in cat:
            tables.append(_table(X_sample[:, j], contrib[:, j], None, n_codes[j]))
        else:
            tables.append(_table(X_sample[:, j], contrib[:, j], thresholds.get(j, np.empty(0)), None))
    return ReasonExplainer(feature_names, groups, tables, float(contrib[:, -1].mean()))


def measure_fidelity(explainer: ReasonExplainer, booster: lgb.Booster, X: np.ndarray, top_k: int = 3) -> dict:
    """Agreement of lookup reasons with exact TreeSHAP reasons on rows not used for the tables.

    Returns correlation of impacts, share of leads whose strongest positive reason matches, and mean overlap
    of the top-k positive reasons.
    """
    approx = explainer.impacts(X)
    exact = explainer.impacts(X, booster, exact=True)
    corr = float(np.corrcoef(approx.ravel(), exact.ravel())[0, 1]) if approx.size > 1 else float("nan")
    k = min(top_k, approx.shape[1])
    top_a = np.argsort(-approx, axis=1)[:, :k]
    top_e = np.argsort(-exact, axis=1)[:, :k]
    overlap = np.mean([len(set(a) & set(e)) / k for a, e in zip(top_a.tolist(), top_e.tolist(), strict=True)])
    return {
        "rows": int(len(X)),
        "impact_correlation": round(corr, 4),
        "top1_positive_agreement": round(float(np.mean(top_a[:, 0] == top_e[:, 0])), 4),
        f"top{k}_positive_overlap": round(float(overlap), 4),
        "mean_abs_error": round(float(np.mean(np.abs(approx - exact))), 4),
    }
