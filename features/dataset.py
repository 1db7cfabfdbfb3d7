"""The featurize stage's library part: canonical leads + activities -> feature frame + FeatureSpec.

Every labelled lead is featurised as of ``created_at + as_of_offset_days`` (the moment its score is used), the
out-of-time split is assigned, and the spec (notably the activity-type vocabulary) is learnt from the training
period only, so nothing about validation or test leaks into the feature definitions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadscore.core import canonical
from leadscore.core.errors import DataValidationError
from leadscore.core.params import FeatureParams, SplitParams
from leadscore.features.build import build_features, leads_from_frame, resolve_as_of
from leadscore.features.columns import NAT, lead_ids, to_nanoseconds
from leadscore.features.intent import (
    activity_columns,
    activity_type_vocabulary,
    sanitize_activity_type,
    types_before_as_of,
)
from leadscore.features.spec import FeatureSpec, infer_spec
from leadscore.features.split import TRAIN, VALIDATION, apply_label_cutoff, assign_split

logger = logging.getLogger(__name__)

SPLIT_COLUMN = "split"
# Leakage suspects that are activity types are named "activity:<type>" (leadscore.validation.leakage).
ACTIVITY_SUSPECT_PREFIX = "activity:"


@dataclass(frozen=True)
class FeatureDataset:
    """The featurize stage's output.

    Attributes:
        frame: lead_id, created_at (if any), as_of, label, true_p (simulator only), split, raw features.
        spec: the frozen feature spec.
    """

    frame: pd.DataFrame
    spec: FeatureSpec


def featurize(
    leads: pd.DataFrame,
    activities: pd.DataFrame | None,
    features: FeatureParams,
    split: SplitParams,
    as_of_offset_days: int,
    *,
    as_of: Any = None,
    exclude: Sequence[str] = (),
) -> FeatureDataset:
    """Build the training feature frame and its spec.

    Args:
        leads: canonical leads (data/interim/leads.parquet) with a 0/1 ``label``.
        activities: canonical activity log, or None when the export has none. An empty log also means no
            intent features (there is nothing to learn from).
        features: feature-engineering params.
        split: split fractions and the label cutoff (rows it leaves out are not in the frame).
        as_of_offset_days: training rows are featurised as of created_at + this many days.
        as_of: override the scoring moment for every lead. Only for demonstrating leakage (a far-future as_of
            disables the point-in-time filter); never used by the pipeline.
        exclude: leakage suspects the validate stage excluded (summary.json ``excluded_columns``): canonical
            column names are dropped from the leads, ``activity:<type>`` names drop those events, so the
            model never sees them and the spec carries the exclusion to scoring.

    Raises:
        DataValidationError: no label column, or labels other than 0/1.
    """
    if canonical.LABEL not in leads.columns:
        raise DataValidationError(
            f"leads have no {canonical.LABEL!r} column: run the pull stage's label policy"
        )
    labels = pd.to_numeric(leads[canonical.LABEL], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    if not np.isin(labels, (0.0, 1.0)).all():
        raise DataValidationError(f"column {canonical.LABEL!r} must hold only 0 and 1 (no missing values)")
    leads, excluded_types = _drop_excluded(leads, exclude)
    n = len(leads)
    has_time = canonical.CREATED_AT in leads.columns
    created_ns = to_nanoseconds(leads[canonical.CREATED_AT], canonical.CREATED_AT) if has_time else None
    split_labels = assign_split(created_ns, n, split)
    if split.label_cutoff and created_ns is not None and canonical.CLOSED_AT in leads.columns:
        closed_ns = to_nanoseconds(leads[canonical.CLOSED_AT], canonical.CLOSED_AT)
        keep = apply_label_cutoff(split_labels, created_ns, closed_ns, NAT)
        for period in (TRAIN, VALIDATION):
            if not (keep & (split_labels == period)).any():
                raise DataValidationError(
                    f"split.label_cutoff leaves no {period} lead closed before the next period starts"
                )
        leads, labels, split_labels = leads.loc[keep], labels[keep], split_labels[keep]
        n = len(leads)

    log = activity_columns(activities) if activities is not None and len(activities) else None
    vocabulary: list[str] | None = None
    base_spec = infer_spec(leads.columns, as_of_offset_days=as_of_offset_days)
    as_of_ns = resolve_as_of(leads_from_frame(leads, base_spec), base_spec, n, as_of) if has_time else None
    if log is not None and as_of_ns is not None:
        train = split_labels == TRAIN
        ids = lead_ids(leads[canonical.LEAD_ID])
        types = types_before_as_of(ids[train], as_of_ns[train], log)
        if excluded_types:
            types = types[~np.isin([sanitize_activity_type(t) for t in types], list(excluded_types))]
        vocabulary = activity_type_vocabulary(
            types, features.min_activity_type_count, features.max_categories
        )
        logger.info("activity types with their own features: %s", ", ".join(vocabulary) or "(none)")
    spec = infer_spec(
        leads.columns,
        activity_types=vocabulary,
        intent_windows_days=features.intent_windows_days,
        decay_half_life_days=features.decay_half_life_days,
        as_of_offset_days=as_of_offset_days,
        excluded_activity_types=excluded_types,
    )
    batch = build_features(leads_from_frame(leads, spec), spec, log, as_of=as_of)
    frame = batch.to_frame(index=leads.index)
    if has_time:
        frame.insert(1, canonical.CREATED_AT, leads[canonical.CREATED_AT].to_numpy())
    frame.insert(len(frame.columns) - len(spec.feature_names), canonical.LABEL, labels.astype(np.int64))
    if canonical.TRUE_P in leads.columns:
        frame.insert(
            len(frame.columns) - len(spec.feature_names), canonical.TRUE_P, leads[canonical.TRUE_P].to_numpy()
        )
    frame.insert(len(frame.columns) - len(spec.feature_names), SPLIT_COLUMN, split_labels)
    return FeatureDataset(frame=frame.reset_index(drop=True), spec=spec)


def _drop_excluded(leads: pd.DataFrame, exclude: Sequence[str]) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """(leads without the excluded columns, sanitised excluded activity types)."""
    prefix = ACTIVITY_SUSPECT_PREFIX
    types = tuple(sorted({sanitize_activity_type(n[len(prefix) :]) for n in exclude if n.startswith(prefix)}))
    columns = [n for n in exclude if not n.startswith(prefix) and n in leads.columns]
    if columns or types:
        names = [*columns, *(prefix + t for t in types)]
        logger.warning("excluded as leakage suspects: %s", ", ".join(names))
    return (leads.drop(columns=columns) if columns else leads), types
