"""The validation gate before training: Great Expectations suites, a leakage detector and the report.

Importing the package is cheap; Great Expectations (a few seconds to import) loads only when the gate or the
suites are used, so code that needs just the leakage detector stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leadscore.validation.expectations import build_activity_suite, build_suite
    from leadscore.validation.gate import validate_leads
    from leadscore.validation.leakage import LeakSuspect, detect_leakage
    from leadscore.validation.report import ValidationFailure, ValidationReport

__all__ = [
    "LeakSuspect",
    "ValidationFailure",
    "ValidationReport",
    "build_activity_suite",
    "build_suite",
    "detect_leakage",
    "validate_leads",
]

_WHERE = {
    "build_suite": "expectations",
    "build_activity_suite": "expectations",
    "validate_leads": "gate",
    "LeakSuspect": "leakage",
    "detect_leakage": "leakage",
    "ValidationFailure": "report",
    "ValidationReport": "report",
}


def __getattr__(name: str) -> Any:
    """Load the public names lazily (PEP 562)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'leadscore.validation' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"leadscore.validation.{_WHERE[name]}"), name)
