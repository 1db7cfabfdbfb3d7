"""Logging set-up for entry points only (library modules just call ``logging.getLogger(__name__)``)."""

from __future__ import annotations

import logging
import os

# Third-party loggers that narrate their internals at INFO (MLflow's store migrations via alembic, GX's
# context set-up, optuna's trials); their warnings still show.
_NOISY = (
    "mlflow",
    "alembic",
    "urllib3",
    "great_expectations",
    "matplotlib",
    "numexpr",
    "git",
    "optuna",
    "filelock",
    "PIL",
    "httpx",
)
# Read by the libraries at import time, so they must be set before the first import of them.
_QUIET_ENV = {
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    "MLFLOW_ENABLE_TELEMETRY": "false",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "GX_ANALYTICS_ENABLED": "False",
    "DO_NOT_TRACK": "1",
}


def quiet_environment() -> None:
    """No INFO chatter, progress bars or telemetry from MLflow and GX (an explicit setting wins)."""
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)


def configure_logging(level: int = logging.INFO) -> None:
    """Configure root logging once, quietly, for a CLI or pipeline entry point."""
    quiet_environment()
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.captureWarnings(True)  # library warnings go through logging (one format), not raw stderr
    logging.getLogger("py.warnings").setLevel(logging.ERROR)
