"""Logging set-up for entry points only (library modules just call ``logging.getLogger(__name__)``)."""

from __future__ import annotations

import logging
import os


def configure_logging(level: int = logging.INFO) -> None:
    """Configure root logging once, quietly, for a CLI or pipeline entry point."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # Third-party libraries are chatty at INFO; their warnings still show.
    for noisy in ("mlflow", "alembic", "urllib3", "great_expectations", "matplotlib", "numexpr", "git"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
