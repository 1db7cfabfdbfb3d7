"""Suite-wide test settings: quiet third-party telemetry and keep every test off the network."""

from __future__ import annotations

import os

# Set before any test imports mlflow / great_expectations: nothing in the suite may phone home.
os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
