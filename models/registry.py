"""MLflow tracking and registry: one run per training, champion/challenger promotion, rollback.

The registry answers one question for serving and batch scoring: which model is the champion. The champion
alias moves only when the new model is at least as good as the current champion *on the same leads*: both
bundles score the new test period with ``bundle.score`` and ``promote_metric`` is compared with a tolerance.
Comparing the metrics each model reported on its own test period would reward an easier period, not a better
model. A model that does not win gets the ``challenger`` alias, and the champion stays where it was.

Every move of the champion records the one it replaced in the ``previous_champion`` alias and appends to a
``leadscore.champion_history`` tag on the registered model, so ``rollback`` needs no bookkeeping of its own.

Stages are deprecated in MLflow 3; only aliases are used (``models:/lead_scorer@champion``).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models.model import ModelInfo
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from leadscore.core import canonical
from leadscore.core.errors import LeadscoreError, ModelQualityError, RegistryError
from leadscore.core.params import CHAMPION_ALIAS, RegistryParams
from leadscore.models.mlflow_model import (
    BUNDLE_ARTIFACT,
    MODEL_NAME_IN_RUN,
    LeadScorerModel,
    load_bundle,
    require_store,
    using_store,
)

if TYPE_CHECKING:
    from leadscore.models.bundle import ScoringBundle

logger = logging.getLogger(__name__)

CHAMPION = CHAMPION_ALIAS
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"
TAG = "leadscore."
HISTORY_TAG = TAG + "champion_history"
_HISTORY_LENGTH = 20
# Direction of each promote_metric: AUC grows with quality, the two proper scores shrink.
HIGHER_IS_BETTER = {"auc": True, "brier": False, "log_loss": False}
# Training provenance the bundle carries; it describes the model better than anything known at registration.
_BUNDLE_PROVENANCE = (
    "git_sha",
    "params_hash",
    "data_hash",
    "trained_at",
    "calibration_method",
    "excluded_columns",
)
# The pyfunc's runtime requirements, pinned to what is installed (inferring them would load the model in a
# subprocess: seconds per registration for a list we already know).
_RUNTIME_PACKAGES = ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "scipy", "pyarrow")


@dataclass(frozen=True)
class Comparison:
    """How the new model and the champion did on the same (new) test leads, and what was decided."""

    metric: str
    higher_is_better: bool
    tolerance: float
    n_leads: int
    n_conversions: int
    new_value: float
    champion_version: str | None = None
    champion_value: float | None = None
    # first_model | promoted | kept_champion | champion_not_comparable | same_as_champion (nothing registered)
    decision: str = "first_model"
    note: str = ""

    @property
    def promoted(self) -> bool:
        """Whether the new model takes the champion alias."""
        return self.decision in ("first_model", "promoted")


@dataclass(frozen=True)
class RegistrationResult:
    """What ``log_and_register`` did; written to reports/registry.json by the register stage."""

    name: str
    version: str
    alias: str
    champion_version: str
    previous_champion_version: str | None
    run_id: str
    experiment_id: str
    model_uri: str
    bundle_version: str
    comparison: Comparison
    timings_seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return asdict(self)


@dataclass(frozen=True)
class VersionInfo:
    """One registered version as ``leadscore models list`` shows it."""

    version: str
    aliases: tuple[str, ...]
    created_at: str
    run_id: str | None
    tags: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return asdict(self)


@dataclass(frozen=True)
class ChampionChange:
    """Result of ``promote`` / ``rollback``."""

    name: str
    champion_version: str
    previous_champion_version: str | None
    changed: bool


# ---- metrics -----------------------------------------------------------------------------------------------


def metric_value(metric: str, labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Compute one promote metric; the test period must hold both outcomes for it to mean anything."""
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-15, 1 - 1e-15)
    if np.unique(labels).size < 2:
        raise ModelQualityError("the test period has a single outcome; models cannot be compared on it")
    if metric == "auc":
        return float(roc_auc_score(labels, probabilities))
    if metric == "brier":
        return float(brier_score_loss(labels, probabilities))
    if metric == "log_loss":
        return float(log_loss(labels, probabilities, labels=[0, 1]))
    raise RegistryError(f"unknown promote_metric {metric!r} (expected one of {sorted(HIGHER_IS_BETTER)})")


def is_at_least_as_good(new: float, champion: float, higher_is_better: bool, tolerance: float) -> bool:
    """The promotion rule: ties promote; ``tolerance`` forgives a small loss (noise of a finite period)."""
    return new >= champion - tolerance if higher_is_better else new <= champion + tolerance


def _score_test_period(
    bundle: ScoringBundle, leads: pd.DataFrame, activities: pd.DataFrame | None
) -> np.ndarray:
    scored = bundle.score(leads, activities, with_reasons=False)
    return scored["probability"].to_numpy(dtype=np.float64)


def compare_with_champion(
    new_bundle: ScoringBundle,
    champion_bundle: ScoringBundle | None,
    champion_version: str | None,
    test_leads: pd.DataFrame,
    test_activities: pd.DataFrame | None,
    tracking: RegistryParams,
) -> Comparison:
    """Score both bundles on the new test leads and apply the promotion rule.

    A champion that cannot score the new leads at all (its feature spec no longer matches the export) is not
    replaced automatically: the new model becomes challenger and a human decides with
    ``leadscore models promote``.
    """
    if canonical.LABEL not in test_leads.columns:
        raise RegistryError(
            f"test leads have no {canonical.LABEL!r} column; the champion comparison needs outcomes"
        )
    labels = test_leads[canonical.LABEL].to_numpy()
    higher = HIGHER_IS_BETTER[tracking.promote_metric]
    base = {
        "metric": tracking.promote_metric,
        "higher_is_better": higher,
        "tolerance": tracking.tolerance,
        "n_leads": len(test_leads),
        "n_conversions": int(np.sum(labels == 1)),
    }
    new_value = metric_value(
        tracking.promote_metric, labels, _score_test_period(new_bundle, test_leads, test_activities)
    )
    if champion_bundle is None:
        return Comparison(**base, new_value=new_value, decision="first_model")
    try:
        champion_p = _score_test_period(champion_bundle, test_leads, test_activities)
    except LeadscoreError as exc:
        logger.warning("champion v%s cannot score the new test period: %s", champion_version, exc)
        return Comparison(
            **base,
            new_value=new_value,
            champion_version=champion_version,
            decision="champion_not_comparable",
            note=f"champion cannot score the new test period: {exc}",
        )
    champion_value = metric_value(tracking.promote_metric, labels, champion_p)
    wins = is_at_least_as_good(new_value, champion_value, higher, tracking.tolerance)
    return Comparison(
        **base,
        new_value=new_value,
        champion_version=champion_version,
        champion_value=champion_value,
        decision="promoted" if wins else "kept_champion",
    )


# ---- PII guard ---------------------------------------------------------------------------------------------


def _pii_in_keys(obj: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            if str(key).lower() in canonical.PII_COLUMNS:
                found.add(str(key))
            found |= _pii_in_keys(value)
    elif isinstance(obj, list | tuple):
        for item in obj:
            found |= _pii_in_keys(item)
    return found


def _pii_in_file(path: Path) -> set[str]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        names = pq.read_schema(path).names
    elif suffix == ".csv":
        with path.open(encoding="utf-8", errors="replace") as handle:
            names = handle.readline().strip().split(",")
    elif suffix == ".json":
        try:
            return _pii_in_keys(json.loads(path.read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return set()
    else:
        return set()
    return {name for name in names if name.strip().strip('"').lower() in canonical.PII_COLUMNS}


def assert_no_pii(what: str, obj: Any = None, paths: list[Path] | None = None) -> None:
    """Refuse to log anything that carries a PII column (contact_name, email, phone) as a key or column name.

    Raises:
        RegistryError: A PII column was found; nothing has been logged for it.
    """
    found = _pii_in_keys(obj) if obj is not None else set()
    if found:
        raise RegistryError(f"refusing to log {what}: it has PII column(s) {sorted(found)}")
    for root in paths or []:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for file in files:
            hits = _pii_in_file(file)
            if hits:
                raise RegistryError(f"refusing to log {file}: it has PII column(s) {sorted(hits)}")


# ---- MLflow plumbing ---------------------------------------------------------------------------------------


def _client(tracking_uri: str, *, must_exist: bool = True) -> MlflowClient:
    if must_exist:
        require_store(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


@contextmanager
def _quiet_model_logging() -> Iterator[None]:
    """Mute MLflow's log_model chatter that does not apply here, for the duration of one call.

    It warns that a Python object is pickled (the class is pickled by reference to this package), that no
    signature can be inferred (on purpose: the bundle validates its own feature spec, and an inferred
    signature rejects int64 where it saw int32) and that pip's version is unknown. Real errors still show.
    """
    names = ("mlflow.pyfunc", "mlflow.utils.environment", "mlflow.models.model")
    loggers = [logging.getLogger(name) for name in names]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


def _artifact_uri(location: str) -> str:
    return location if "://" in location else Path(location).resolve().as_uri()


def _experiment_id(client: MlflowClient, tracking: RegistryParams) -> str:
    experiment = client.get_experiment_by_name(tracking.experiment)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(
        client.create_experiment(
            tracking.experiment, artifact_location=_artifact_uri(tracking.artifact_location)
        )
    )


def _registered_aliases(client: MlflowClient, name: str) -> dict[str, str] | None:
    """Alias -> version of a registered model, or None when no model of that name is registered."""
    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    return {alias: str(version) for alias, version in (model.aliases or {}).items()}


def _require_model(client: MlflowClient, name: str) -> dict[str, str]:
    aliases = _registered_aliases(client, name)
    if aliases is None:
        raise RegistryError(f"no registered model named {name!r}")
    return aliases


def _require_version(client: MlflowClient, name: str, version: str) -> ModelVersion:
    try:
        return client.get_model_version(name, str(version))
    except MlflowException:
        raise RegistryError(f"model {name!r} has no version {version!r}") from None


def _flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _mlflow_key(key: str) -> str:
    """MLflow accepts letters, digits, ``_ - . / space`` in param and metric names, up to 250 characters."""
    return re.sub(r"[^\w\-. /]", "_", key)[:250]


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:6000]  # MLflow's limit on a param value


def _numeric_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in _flatten(metrics).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            out[_mlflow_key(key)] = float(value)
    return out


def _runtime_requirements() -> list[str]:
    pins = []
    for package in _RUNTIME_PACKAGES:
        try:
            pins.append(f"{package}=={importlib_metadata.version(package)}")
        except importlib_metadata.PackageNotFoundError:
            pins.append(package)
    return pins


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _append_history(client: MlflowClient, name: str, version: str, reason: str) -> None:
    model = client.get_registered_model(name)
    try:
        history = json.loads((model.tags or {}).get(HISTORY_TAG, "[]"))
    except json.JSONDecodeError:
        history = []
    history.append({"version": version, "at": _now(), "by": reason})
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[-_HISTORY_LENGTH:]))


def _move_champion(client: MlflowClient, name: str, version: str, reason: str) -> ChampionChange:
    """Point ``champion`` at ``version``, remembering the one it replaces as ``previous_champion``."""
    aliases = _require_model(client, name)
    current = aliases.get(CHAMPION)
    if current == version:
        return ChampionChange(name, version, aliases.get(PREVIOUS_CHAMPION), changed=False)
    if current is not None:
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION, current)
    client.set_registered_model_alias(name, CHAMPION, version)
    # A challenger was compared with the champion it lost to; once that champion is gone the label is stale.
    if aliases.get(CHALLENGER) is not None:
        client.delete_registered_model_alias(name, CHALLENGER)
    client.set_model_version_tag(name, version, TAG + "champion_since", _now())
    client.set_model_version_tag(name, version, TAG + "champion_by", reason)
    _append_history(client, name, version, reason)
    logger.info("%s: champion is now v%s (was %s; %s)", name, version, current, reason)
    return ChampionChange(name, version, current, changed=True)


def _version_tags(
    comparison: Comparison, provenance: Mapping[str, str], bundle: ScoringBundle
) -> dict[str, str]:
    """Tags shared by the run and the model version: provenance, bundle hash and the champion comparison."""
    trained = {
        key: bundle.metadata[key] for key in _BUNDLE_PROVENANCE if bundle.metadata.get(key) is not None
    }
    if isinstance(trained.get("excluded_columns"), list):  # leakage suspects kept out of the model
        trained["excluded_columns"] = ", ".join(trained["excluded_columns"]) or "none"
    values: dict[str, Any] = {
        **provenance,
        **trained,
        "bundle_version": bundle.version,
        "decision": comparison.decision,
        "compare.metric": comparison.metric,
        "compare.new": f"{comparison.new_value:.6f}",
        "compare.champion": "" if comparison.champion_value is None else f"{comparison.champion_value:.6f}",
        "compare.champion_version": comparison.champion_version or "",
        "compare.tolerance": comparison.tolerance,
        "compare.n_leads": comparison.n_leads,
    }
    return {TAG + key: str(value) for key, value in values.items()}


def _log_run(
    experiment_id: str,
    run_name: str,
    bundle_dir: Path,
    bundle_version: str,
    metrics: Mapping[str, Any],
    params_dict: Mapping[str, Any],
    plots: Path | None,
    validation_summary: Mapping[str, Any] | None,
    tags: dict[str, str],
    comparison: Comparison,
) -> tuple[str, ModelInfo]:
    """One MLflow run: flattened params, metrics, comparison, plots, validation summary, pyfunc model."""
    compare_metrics = {f"compare.{comparison.metric}.new": comparison.new_value}
    if comparison.champion_value is not None:
        compare_metrics[f"compare.{comparison.metric}.champion"] = comparison.champion_value
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.log_params({_mlflow_key(key): _param_value(v) for key, v in _flatten(params_dict).items()})
        mlflow.log_metrics(_numeric_metrics(metrics) | compare_metrics)
        mlflow.set_tags(tags)
        mlflow.log_dict(dict(metrics), "metrics.json")
        if validation_summary is not None:
            mlflow.log_dict(dict(validation_summary), "validation/summary.json")
        if plots is not None:
            mlflow.log_artifacts(str(plots), "plots")
        with _quiet_model_logging():
            info = mlflow.pyfunc.log_model(
                name=MODEL_NAME_IN_RUN,
                python_model=LeadScorerModel(),
                artifacts={BUNDLE_ARTIFACT: str(bundle_dir)},
                pip_requirements=_runtime_requirements(),
                metadata={"bundle_version": bundle_version},
            )
    return run.info.run_id, info


# ---- public API --------------------------------------------------------------------------------------------


def log_and_register(
    bundle_dir: str | Path,
    metrics: Mapping[str, Any],
    params_dict: Mapping[str, Any],
    plots_dir: str | Path | None,
    provenance: Mapping[str, str],
    tracking: RegistryParams,
    *,
    test_leads: pd.DataFrame,
    test_activities: pd.DataFrame | None = None,
    validation_summary: Mapping[str, Any] | None = None,
    run_name: str | None = None,
) -> RegistrationResult:
    """Log one training run, register its bundle as a new version and decide champion vs challenger.

    Args:
        bundle_dir: The ScoringBundle directory written by the train stage.
        metrics: The evaluate stage's metrics (nested dicts are flattened to ``a.b`` metric names).
        params_dict: params.yaml as a dict; logged flattened so runs can be diffed in the MLflow UI.
        plots_dir: Plot files (JSON and PNG) logged under ``plots/``; None or missing skips them.
        provenance: git_sha, data_hash, params_hash and similar, logged as ``leadscore.*`` tags; the same keys
            in the bundle's metadata (the training's own provenance) take precedence.
        tracking: Store, experiment, model name and the promotion rule.
        test_leads: Canonical test-period leads with ``label``: both the new model and the champion are
            scored on them.
        test_activities: Activity log for those leads (None: the bundle's intent columns must be in the
            leads).
        validation_summary: The validation gate's summary, logged as ``validation/summary.json``.
        run_name: MLflow run name (default ``train-<bundle version>``).

    Raises:
        RegistryError: PII in something that would be logged, or the store refused an operation.
        ModelQualityError: The test leads hold a single outcome, so no comparison is possible.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    bundle_dir = Path(bundle_dir)
    plots = Path(plots_dir) if plots_dir is not None and Path(plots_dir).exists() else None
    assert_no_pii("metrics", metrics)
    assert_no_pii("params", params_dict)
    assert_no_pii("validation summary", validation_summary)
    # The bundle directory holds the reference frame (reference.parquet) and metadata.json: both are scanned.
    assert_no_pii("bundle and plots", paths=[bundle_dir, *([plots] if plots else [])])

    new_bundle = load_bundle(bundle_dir)
    client = _client(tracking.tracking_uri, must_exist=False)
    experiment_id = _experiment_id(client, tracking)
    timings["open_store"] = time.perf_counter() - started

    step = time.perf_counter()
    name = tracking.model_name
    registered = _registered_aliases(client, name)
    champion_version = (registered or {}).get(CHAMPION)
    champion_bundle = None
    if champion_version is not None:
        champion_bundle = load_bundle(f"models:/{name}@{CHAMPION}", tracking_uri=tracking.tracking_uri)
    comparison = compare_with_champion(
        new_bundle, champion_bundle, champion_version, test_leads, test_activities, tracking
    )
    timings["compare"] = time.perf_counter() - step

    step = time.perf_counter()
    if champion_bundle is not None and champion_bundle.version == new_bundle.version:
        # A re-run on unchanged inputs (`dvc repro -f`): the same content hash is the same model, and a second
        # version of it would only blur the history that rollback relies on.
        logger.info("%s: bundle %s is already the champion (v%s)", name, new_bundle.version, champion_version)
        comparison = replace(comparison, decision="same_as_champion")
        version = str(champion_version)
        run_id = str(client.get_model_version(name, version).run_id)
    else:
        tags = _version_tags(comparison, provenance, new_bundle)
        with using_store(tracking.tracking_uri):
            run_id, info = _log_run(
                experiment_id,
                run_name or f"train-{new_bundle.version[:12]}",
                bundle_dir,
                new_bundle.version,
                metrics,
                params_dict,
                plots,
                validation_summary,
                tags,
                comparison,
            )
            if registered is None:
                client.create_registered_model(name, description="leadscore calibrated lead-scoring bundle")
            # Inside the context: the SQL registry resolves the models:/<model_id> source through MLflow's
            # default client, which must point at this store.
            mv = client.create_model_version(
                name, source=info.model_uri, run_id=run_id, model_id=info.model_id, tags=tags
            )
        version = str(mv.version)
        if comparison.promoted:
            _move_champion(client, name, version, reason=f"register ({comparison.decision})")
        else:
            client.set_registered_model_alias(name, CHALLENGER, version)
            logger.info("%s v%s is the challenger (%s)", name, version, comparison.decision)
    aliases = _require_model(client, name)
    timings["log_and_register"] = time.perf_counter() - step
    timings["total"] = time.perf_counter() - started
    return RegistrationResult(
        name=name,
        version=version,
        alias=CHAMPION if aliases.get(CHAMPION) == version else CHALLENGER,
        champion_version=aliases[CHAMPION],
        previous_champion_version=aliases.get(PREVIOUS_CHAMPION),
        run_id=run_id,
        experiment_id=experiment_id,
        model_uri=f"models:/{name}/{version}",
        bundle_version=new_bundle.version,
        comparison=comparison,
        timings_seconds={key: round(value, 3) for key, value in timings.items()},
    )


def promote(name: str, version: str, *, tracking_uri: str) -> ChampionChange:
    """Make ``version`` the champion by hand (e.g. a challenger a human has reviewed)."""
    client = _client(tracking_uri)
    _require_model(client, name)
    _require_version(client, name, version)
    return _move_champion(client, name, str(version), reason="promote")


def rollback(name: str, to_version: str | None = None, *, tracking_uri: str) -> ChampionChange:
    """Move the champion back to the previous champion, or to ``to_version``.

    Rolling back twice without a version swaps the two most recent champions, which is what an operator
    undoing a rollback expects.

    Raises:
        RegistryError: No such model or version, no champion yet, or no previous champion recorded.
    """
    client = _client(tracking_uri)
    aliases = _require_model(client, name)
    if CHAMPION not in aliases:
        raise RegistryError(f"model {name!r} has no champion to roll back")
    target = str(to_version) if to_version is not None else aliases.get(PREVIOUS_CHAMPION)
    if target is None:
        raise RegistryError(f"model {name!r} has no previous champion recorded; pass --to VERSION")
    _require_version(client, name, target)
    return _move_champion(client, name, target, reason="rollback")


def list_versions(name: str, *, tracking_uri: str) -> list[VersionInfo]:
    """All versions of a registered model, newest first, with their aliases and leadscore tags."""
    client = _client(tracking_uri)
    aliases = _require_model(client, name)
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(version, []).append(alias)
    versions = client.search_model_versions(f"name = '{name}'")
    out = [
        VersionInfo(
            version=str(mv.version),
            aliases=tuple(sorted(by_version.get(str(mv.version), []))),
            created_at=datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC)
            .replace(microsecond=0)
            .isoformat(),
            run_id=mv.run_id,
            tags={key[len(TAG) :]: value for key, value in (mv.tags or {}).items() if key.startswith(TAG)},
        )
        for mv in versions
    ]
    return sorted(out, key=lambda info: int(info.version), reverse=True)


def get_champion(name: str, *, tracking_uri: str) -> VersionInfo:
    """The version the ``champion`` alias points at.

    Raises:
        RegistryError: No such model, or it has no champion.
    """
    for info in list_versions(name, tracking_uri=tracking_uri):
        if CHAMPION in info.aliases:
            return info
    raise RegistryError(f"model {name!r} has no champion")
