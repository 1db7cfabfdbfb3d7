"""The segments RevOps reads the report by (industry, source, region, size band), from whatever columns exist.

Exports carry industry and lead source as canonical columns, but region and size band only exist as model
features (``firmo_region``, ``firmo_size_band`` as an ordinal code), and the prediction log keeps feature
values only. One mapping here lets the DVC report stage, the ``leadscore report`` command and the API route
label segments identically.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# segment column in the report -> feature column it can be derived from
SEGMENT_SOURCES = {
    "industry": "firmo_industry",
    "lead_source": "acq_lead_source",
    "region": "firmo_region",
    "size_band": "firmo_size_band",
}


def size_band_labels(codes: pd.Series) -> np.ndarray:
    """Readable employee bands ("50-200") for the ordinal codes of ``firmo_size_band``; None when unknown."""
    from leadscore.features.firmographic import SIZE_LABELS

    labels = np.array(SIZE_LABELS, dtype=object)
    values = pd.to_numeric(codes, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    valid = np.isfinite(values) & (values >= 0) & (values < len(labels))
    out = np.full(len(values), None, dtype=object)
    out[valid] = labels[values[valid].astype(np.intp)]
    return out


def add_segments(frame: pd.DataFrame, *, drop_sources: bool = False) -> pd.DataFrame:
    """A copy of ``frame`` with every segment column it lacks derived from its feature column, if present.

    Args:
        frame: scored leads (canonical columns and/or model features).
        drop_sources: remove the feature columns a segment was derived from (when they are not wanted as
            drift inputs of their own).
    """
    out = frame.copy()
    used = []
    for segment, source in SEGMENT_SOURCES.items():
        if segment in out.columns or source not in out.columns:
            continue
        out[segment] = size_band_labels(out[source]) if segment == "size_band" else out[source]
        used.append(source)
    return out.drop(columns=used) if drop_sources else out
