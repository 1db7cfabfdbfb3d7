"""Input checks and JSON conversion shared by the monitoring modules."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from leadscore.core.errors import LeadscoreError


class MonitoringInputError(LeadscoreError, ValueError):
    """Labels, scores or frames handed to a metric or monitor are unusable (wrong shape, range or column).

    It is a ``ValueError`` too, so numeric callers that already guard against bad arrays keep working.
    """


def _one_dimensional(values: Any, name: str, expected: str) -> np.ndarray:
    """``values`` as a 1-D float64 array, or a MonitoringInputError naming ``name`` and ``expected``."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise MonitoringInputError(f"{name}: expected {expected}") from None
    if arr.ndim != 1:
        raise MonitoringInputError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    return arr


def as_probabilities(p: Any, name: str = "probability") -> np.ndarray:
    """Return ``p`` as a 1-D float64 array of finite values in [0, 1], or raise naming ``name``."""
    arr = _one_dimensional(p, name, "numbers")
    if arr.size and not np.isfinite(arr).all():
        raise MonitoringInputError(f"{name}: {int((~np.isfinite(arr)).sum())} missing or infinite values")
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise MonitoringInputError(
            f"{name}: values must lie in [0, 1], got [{arr.min():.4g}, {arr.max():.4g}]"
        )
    return arr


def as_labels(y: Any, name: str = "label") -> np.ndarray:
    """Return ``y`` as a 1-D float64 array of 0/1 values, or raise naming ``name``.

    Float labels are accepted because pandas stores nullable 0/1 columns as floats; NaN (an outcome that has
    not matured) is rejected, since silently dropping it would shift the base rate.
    """
    arr = _one_dimensional(y, name, "0/1 labels")
    if arr.size and np.isnan(arr).any():
        raise MonitoringInputError(
            f"{name}: {int(np.isnan(arr).sum())} missing labels (filter unmatured leads first)"
        )
    if arr.size and not np.isin(arr, (0.0, 1.0)).all():
        raise MonitoringInputError(f"{name}: labels must be 0/1")
    return arr


def as_labels_and_scores(y: Any, p: Any, *, min_rows: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Validate a label vector and a probability vector of the same length."""
    y_arr = as_labels(y)
    p_arr = as_probabilities(p)
    if y_arr.shape != p_arr.shape:
        raise MonitoringInputError(f"label and probability lengths differ: {y_arr.size} vs {p_arr.size}")
    if y_arr.size < min_rows:
        raise MonitoringInputError(f"need at least {min_rows} rows, got {y_arr.size}")
    return y_arr, p_arr


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/pandas scalars, arrays and frames into plain JSON types (NaN and inf become ``None``).

    ``json.dumps`` would otherwise write ``NaN``, which is not JSON and breaks DVC and browsers.
    """
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, pd.DataFrame):
        return [to_jsonable(rec) for rec in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return to_jsonable(obj.to_dict())
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, pd.Timestamp):
        return None if pd.isna(obj) else obj.isoformat()
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [to_jsonable(v) for v in obj]
    if obj is pd.NaT or (not isinstance(obj, str) and pd.api.types.is_scalar(obj) and pd.isna(obj)):
        return None
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    return str(obj)
