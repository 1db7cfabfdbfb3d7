"""Serving: the FastAPI app factory, settings, auth, routes, micro-batcher and prediction store.

Installed as ``leadscore.serving`` (the project's one import root); importing the bare ``serving`` is refused
so that no generic top-level name reaches site-packages, a user's namespace or a saved model.
"""

if __name__ != "leadscore.serving":
    raise ImportError(f"import leadscore.serving, not {__name__}: leadscore's packages live under one root")
