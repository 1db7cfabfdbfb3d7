"""Model-quality monitoring: metrics, calibration, drift, label-free performance estimation and plots.

Everything here is a pure function of numpy arrays or DataFrames handed in by the caller (a pipeline stage,
the quarterly report or the API's batch job); nothing reads params.yaml or files. The modules:

- ``metrics``: discrimination (AUC, PR AUC, KS), proper scores, lift/gains by decile, confusion at a
threshold,
  bootstrap confidence intervals and ``evaluate_scores`` (the flat dict the evaluate stage writes).
- ``calibration``: reliability tables, ECE, calibration-in-the-large, calibration slope, Brier decomposition.
- ``drift``: ``DriftMonitor`` (PSI, Jensen-Shannon, normed Wasserstein, KS / chi-squared) and score drift.
- ``cbpe``: ``CBPE``, confidence-based performance estimation from calibrated probabilities before labels
arrive.
- ``plots``: DVC plot JSON files and offline matplotlib PNGs.
"""

from __future__ import annotations

from leadscore.monitoring._common import MonitoringInputError

__all__ = ["MonitoringInputError"]
