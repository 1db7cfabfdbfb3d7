"""Out-of-time split: oldest leads train, then validation, newest test.

A random split would let the model see the future mix of industries and sources while being graded on the
past; scoring is always done on leads newer than the training data, so the split mirrors that.
"""

from __future__ import annotations

import logging

import numpy as np

from leadscore.errors import DataValidationError
from leadscore.params import SplitParams

logger = logging.getLogger(__name__)

TRAIN, VALIDATION, TEST = "train", "validation", "test"
SPLITS = (TRAIN, VALIDATION, TEST)


def assign_split(order_key: np.ndarray | None, n: int, params: SplitParams) -> np.ndarray:
    """Split label per row by time order.

    Args:
        order_key: sortable key per row (creation time as int64 ns); None keeps the row order (exports
            ordered by a sequence column arrive sorted). Ties keep row order (stable sort): deterministic.
        n: number of rows.
        params: validation and test fractions (newest test_fraction is test, the one before is validation).

    Returns:
        Object array of "train" / "validation" / "test".

    Raises:
        DataValidationError: too few rows to give every period at least one lead.
    """
    n_test = int(round(n * params.test_fraction))
    n_val = int(round(n * params.validation_fraction))
    n_train = n - n_val - n_test
    if min(n_test, n_val, n_train) < 1:
        raise DataValidationError(f"{n} labelled leads are too few for a train/validation/test split")
    order = np.arange(n) if order_key is None else np.argsort(order_key, kind="stable")
    labels = np.empty(n, dtype=object)
    labels[order[:n_train]] = TRAIN
    labels[order[n_train : n_train + n_val]] = VALIDATION
    labels[order[n_train + n_val :]] = TEST
    logger.info("split %d leads: %d train, %d validation, %d test", n, n_train, n_val, n_test)
    return labels
