"""The quarterly model-accuracy report for RevOps (``quarterly`` builds it, ``render`` writes HTML + JSON)."""

from __future__ import annotations
