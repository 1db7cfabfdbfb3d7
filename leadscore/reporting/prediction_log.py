"""Scored leads for the quarterly report from the service's prediction log joined with the CRM's outcomes.

The query itself (each lead's latest score made no later than its close, or its latest score while open, with
the feature values that score saw) lives in ``leadscore.serving.store.PredictionStore.report_scores``, next to
the accuracy endpoint's reads that follow the same rule; the edges that reach the database (``leadscore
report`` and ``GET /v1/report``) call it and hand the frame here. This module only turns that frame into the
report's input, so the reporting library never touches the store's tables. The log holds no PII and no
creation time, so maturity counts from the scoring time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

import numpy as np
import pandas as pd

from leadscore.core.params import ReportParams
from leadscore.reporting.quarterly import BAND, IS_MQL, IS_SQL, SCORED_AT, parse_quarter
from leadscore.reporting.segments import add_segments


class BandRule(Protocol):
    """The band scheme's qualification rule (``leadscore.models.bands.BandScheme``)."""

    def codes_of(self, bands: Iterable[str]) -> np.ndarray:
        """Band code (0 = best) per band name."""
        ...

    def flags(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(is_mql, is_sql) per band code."""
        ...


def log_window(quarter: str, params: ReportParams) -> tuple[datetime, datetime]:
    """Scoring-time window [start, end) of the report: the quarter and the ``quarters_shown - 1`` before."""
    period = parse_quarter(quarter)
    start = (period - (params.quarters_shown - 1)).start_time.to_pydatetime()
    return start, (period + 1).start_time.to_pydatetime()


def report_input(logged: pd.DataFrame, bands: BandRule) -> pd.DataFrame:
    """The report's frame from ``PredictionStore.report_scores``: MQL/SQL flags, segments, scoring order.

    The flags come from the logged band through the scheme's own rule, so a lead is qualified exactly as the
    bundle qualified it when scoring.
    """
    if logged.empty:
        return logged
    frame = logged.copy()
    frame[IS_MQL], frame[IS_SQL] = bands.flags(bands.codes_of(frame[BAND].astype("string").fillna("")))
    return add_segments(frame).sort_values(SCORED_AT, kind="stable").reset_index(drop=True)
