"""Pipelines: the thin DVC stage entry points (pull ... report) and the demo.

Installed as ``leadscore.pipelines`` (the project's one import root); importing the bare ``pipelines`` is
refused so that no generic top-level name reaches site-packages, a user's namespace or a saved model.
"""

if __name__ != "leadscore.pipelines":
    raise ImportError(f"import leadscore.pipelines, not {__name__}: leadscore's packages live under one root")
