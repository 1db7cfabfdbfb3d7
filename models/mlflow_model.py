"""The scoring bundle as an MLflow pyfunc model, and the one way to get a bundle back from anywhere.

Why a pyfunc wrapper around the bundle directory instead of ``mlflow.lightgbm``: the booster alone is not the
model. Category maps, the calibrator, bands and the reason labels live in the bundle, and serving, batch
scoring and evaluation must all call the same ``bundle.score``. The bundle directory travels untouched as a
pyfunc artifact, so ``mlflow.pyfunc.load_model("models:/lead_scorer@champion")`` works for MLflow tooling
while the API takes the fast path: ``load_bundle`` unwraps the artifact and returns the real bundle.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.tracking._model_registry import utils as _registry_utils
from mlflow.tracking._tracking_service import utils as _tracking_utils

from leadscore.core.errors import RegistryError
from leadscore.models.bundle import ScoringBundle

logger = logging.getLogger(__name__)

# Name of the pyfunc artifact that holds the bundle directory, and of the logged model inside a run.
BUNDLE_ARTIFACT = "bundle"
MODEL_NAME_IN_RUN = "model"
_URI_SCHEMES = ("models:/", "runs:/")
_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


class LeadScorerModel(mlflow.pyfunc.PythonModel):
    """Pyfunc face of a ScoringBundle: ``predict(leads)`` is ``bundle.score(leads)``.

    The pyfunc interface carries one frame, so activities cannot be passed: callers send canonical leads with
    the pre-aggregated intent columns (the bundle accepts them when no activity log is given), or use
    ``load_bundle`` and call ``bundle.score(leads, activities)`` directly.
    """

    bundle: ScoringBundle

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        """Load the bundle from the model's artifacts (called once by ``mlflow.pyfunc.load_model``)."""
        self.bundle = ScoringBundle.load(context.artifacts[BUNDLE_ARTIFACT])

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext | None,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Score canonical leads; ``params`` may set ``with_reasons`` (bool) and ``top_reasons`` (int)."""
        params = params or {}
        return self.bundle.score(
            model_input,
            None,
            with_reasons=bool(params.get("with_reasons", True)),
            top_reasons=int(params.get("top_reasons", 3)),
        )


def bundle_path_in_model_dir(model_dir: str | Path) -> Path:
    """Locate the bundle directory inside a pyfunc model directory by reading its MLmodel file."""
    model_dir = Path(model_dir)
    try:
        flavor = Model.load(str(model_dir)).flavors["python_function"]
        relative = flavor["artifacts"][BUNDLE_ARTIFACT]["path"]
    except (KeyError, TypeError, OSError, MlflowException):
        raise RegistryError(f"{model_dir} is an MLflow model but not a leadscore bundle model") from None
    return model_dir / relative


@contextmanager
def using_store(tracking_uri: str | None) -> Iterator[None]:
    """Point MLflow's process-wide tracking and registry URIs at one store, and restore them afterwards.

    Several MLflow code paths ignore the URIs passed to them and use the process-wide ones: resolving
    ``models:/name@alias`` in ``download_artifacts``, the fluent ``start_run`` / ``log_model``, and the SQL
    registry's lookup of a logged model when a version is created. None leaves MLflow's defaults alone.
    """
    if tracking_uri is None:
        yield
        return
    # Saved and restored exactly (module state and environment): restoring through the public setters would
    # pin the registry URI and export both URIs to the environment, leaking into the caller's later calls.
    saved_tracking, saved_registry = _tracking_utils._tracking_uri, _registry_utils._registry_uri
    with _restored_env(_URI_ENV):
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(saved_tracking)
            _registry_utils._registry_uri = saved_registry


@contextmanager
def _restored_env(names: tuple[str, ...], **values: str) -> Iterator[None]:
    """Set environment variables for a block and put back exactly what was there (or nothing) afterwards."""
    saved = {name: os.environ.get(name) for name in (*names, *values)}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def require_store(tracking_uri: str | None) -> None:
    """Fail fast on a SQLite store file that does not exist.

    MLflow would silently create an empty database (seconds of schema migrations) and then report that the
    model is unknown; a missing file almost always means a wrong working directory or that the pipeline has
    not run.

    Raises:
        RegistryError: The SQLite file is missing.
    """
    if tracking_uri and tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri.removeprefix("sqlite:///"))
        if not path.is_file():
            raise RegistryError(
                f"no MLflow registry at {path} (run the pipeline first, or pass --tracking-uri)"
            )


def load_bundle(model_uri_or_path: str | Path, *, tracking_uri: str | None = None) -> ScoringBundle:
    """Return the real ScoringBundle behind a local directory or an MLflow model URI.

    Accepted forms: a bundle directory (``data/model``), a downloaded pyfunc model directory (has
    ``MLmodel``), ``models:/<name>@<alias>``, ``models:/<name>/<version>`` and ``runs:/<run_id>/model``.

    Args:
        model_uri_or_path: Where the model is.
        tracking_uri: Tracking/registry store that resolves ``models:/`` and ``runs:/`` URIs; None uses
            MLflow's own default (MLFLOW_TRACKING_URI). Ignored for local paths.

    Raises:
        RegistryError: Missing store, unknown model, version or alias.
        ConfigError: No readable scoring bundle at a local path.
    """
    location = str(model_uri_or_path)
    if not location.startswith(_URI_SCHEMES):
        path = Path(location)
        return ScoringBundle.load(bundle_path_in_model_dir(path) if (path / "MLmodel").is_file() else path)
    require_store(tracking_uri)
    # The model is copied into a temporary directory that only has to outlive ScoringBundle.load (the bundle
    # reads everything into memory). MLflow draws a progress bar on stderr for multi-file downloads; a library
    # call (the API's reload) must not.
    quiet = _restored_env((), MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
    with tempfile.TemporaryDirectory(prefix="leadscore-model-") as tmp, using_store(tracking_uri), quiet:
        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=tmp)
        except MlflowException as exc:
            raise RegistryError(f"cannot load {location}: {_first_line(exc)}") from None
        bundle = ScoringBundle.load(bundle_path_in_model_dir(local))
    logger.debug("loaded bundle %s from %s", bundle.version, location)
    return bundle


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
