"""Models: LightGBM training, calibration, bands, reasons, the scoring bundle, the MLflow registry.

Installed as ``leadscore.models`` (the project's one import root); importing the bare ``models`` is refused so
that no generic top-level name reaches site-packages, a user's namespace or a saved model.
"""

if __name__ != "leadscore.models":
    raise ImportError(f"import leadscore.models, not {__name__}: leadscore's packages live under one root")
