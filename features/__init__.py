"""Features: firmographic / ICP fit, BANT, point-in-time intent, the fitted transformer, the split.

Installed as ``leadscore.features`` (the project's one import root); importing the bare ``features`` is
refused so that no generic top-level name reaches site-packages, a user's namespace or a saved model.
"""

if __name__ != "leadscore.features":
    raise ImportError(f"import leadscore.features, not {__name__}: leadscore's packages live under one root")
