"""Holds the serving bundle: first load, warm-up, polling the registry alias, and atomic hot swaps.

Requests read ``holder.current`` once and keep that object for their whole life, so a swap never mixes two
models inside one request and needs no lock on the hot path (rebinding an attribute is atomic in CPython). A
new version must load *and* score a warm-up lead before it replaces the old one; otherwise it is refused, the
old bundle keeps serving and the reason is kept for GET /v1/model and the reload response.
"""

from __future__ import annotations

import functools
import gc
import logging
import math
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadscore.core import canonical
from leadscore.core.errors import LeadscoreError
from leadscore.models.bundle import BUNDLE_FILE, ScoringBundle
from leadscore.serving.settings import REGISTRY_URI_PREFIXES

logger = logging.getLogger(__name__)

_ALIAS_URI = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)$")
# After a failed first load, try again this often until it works (the service is live but not ready
# meanwhile).
_INITIAL_RETRY_SECONDS = 5.0


class ModelLoadError(LeadscoreError):
    """A bundle could not be loaded or failed its warm-up score."""


@dataclass(frozen=True)
class LoadedModel:
    """One loaded, warmed-up bundle and where it came from."""

    bundle: ScoringBundle
    version: str
    source: str
    source_revision: str | None
    loaded_at: datetime

    @functools.cached_property
    def intent_names(self) -> frozenset[str]:
        """The bundle's intent feature names (requests' intent counts are checked against them)."""
        return frozenset(self.bundle.spec.intent_feature_names)


@dataclass(frozen=True)
class ReloadResult:
    """Outcome of a reload attempt: reloaded, unchanged, or refused (with the reason)."""

    status: str  # "reloaded" | "unchanged" | "refused"
    version: str | None
    previous_version: str | None
    reason: str | None = None


Loader = Callable[[str], ScoringBundle]
RevisionProbe = Callable[[], str | None]


def warm_up(bundle: ScoringBundle) -> None:
    """Score one synthetic lead (every field missing, one activity) through the same path requests take.

    It catches a bundle that loads but cannot score (a missing artifact, a version skew in a dependency)
    before it takes traffic, and it pays the first-call costs (lazy imports, caches) outside a request.

    Raises:
        ModelLoadError: the score failed or is not a probability.
    """
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    record: dict[str, Any] = {canonical.LEAD_ID: "__warmup__", canonical.CREATED_AT: now}
    # Every input the spec reads (roles and extra export columns), all missing: the hardest lead to score.
    record.update({column: None for column in bundle.spec.input_columns})
    activity = {
        canonical.ACTIVITY_LEAD_ID: "__warmup__",
        canonical.ACTIVITY_AT: now,
        canonical.ACTIVITY_TYPE: "web_visit",
    }
    try:
        out = bundle.score_records([record], [activity], top_reasons=3, with_reasons=True)
    except Exception as exc:
        raise ModelLoadError(f"warm-up score failed: {type(exc).__name__}: {exc}") from exc
    probability = out[0].get("probability") if out else None
    if not isinstance(probability, float) or not math.isfinite(probability) or not 0.0 <= probability <= 1.0:
        raise ModelLoadError(f"warm-up score is not a probability: {probability!r}")


def settle_heap() -> None:
    """Collect once, then exempt everything alive now from later garbage collections (``gc.freeze``).

    A serving process holds a large long-lived heap (pandas, sklearn, LightGBM, MLflow, the bundle), and a
    full collection walks all of it: a stall of tens of milliseconds that lands on whichever ~1 ms request
    is running, i.e. the p99. Frozen, the collector only sees the requests' short-lived garbage. Unfreezing
    first lets a bundle that was just replaced be collected like any other garbage.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def directory_fingerprint(path: Path) -> str:
    """A cheap change detector for a bundle directory: newest mtime, file count and total size."""
    newest, count, size = 0, 0, 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.stat(os.path.join(root, name))
            except FileNotFoundError:  # being rewritten right now; the next poll sees the result
                continue
            newest, count, size = max(newest, st.st_mtime_ns), count + 1, size + st.st_size
    return f"{newest}-{count}-{size}"


def registry_alias_probe(model_uri: str, tracking_uri: str) -> RevisionProbe | None:
    """A probe returning the version an alias URI points to, or None when the URI is pinned (no alias)."""
    match = _ALIAS_URI.match(model_uri)
    if match is None:
        return None
    name, alias = match["name"], match["alias"]

    def probe() -> str | None:
        from mlflow import MlflowClient  # imported lazily: a directory-backed service never needs mlflow

        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        return str(client.get_model_version_by_alias(name, alias).version)

    return probe


def pinned_uri(model_uri: str, revision: str | None) -> str:
    """The URI of exactly the probed version, so the alias cannot move again between probe and load."""
    match = _ALIAS_URI.match(model_uri)
    if match is None or revision is None:
        return model_uri
    return f"models:/{match['name']}/{revision}"


class ModelHolder:
    """Loads, warms up, polls and swaps the bundle; see the module docstring for the guarantees."""

    def __init__(
        self,
        source: str,
        loader: Loader,
        probe: RevisionProbe | None = None,
        *,
        warmup: Callable[[ScoringBundle], None] = warm_up,
    ) -> None:
        self.source = source
        self._loader = loader
        self._probe = probe
        self._warmup = warmup
        self._current: LoadedModel | None = None
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._refused_revision: str | None = None
        self.last_error: str | None = None

    @property
    def current(self) -> LoadedModel | None:
        """The model serving now (None until the first successful load)."""
        return self._current

    @property
    def ready(self) -> bool:
        """Loaded and warmed up."""
        return self._current is not None

    def reload(self, *, force: bool = True) -> ReloadResult:
        """Load the source again and swap it in if it is new and healthy.

        Args:
            force: Load even when the probed revision is unchanged (a manual reload); the poller passes False.
        """
        with self._reload_lock:
            previous = self._current
            previous_version = previous.version if previous else None
            try:
                revision = self._probe() if self._probe is not None else None
            except Exception as exc:
                return self._refuse(previous_version, f"cannot read the registry: {_describe(exc)}", None)
            if not force and previous is not None and revision == previous.source_revision:
                return ReloadResult("unchanged", previous_version, previous_version)
            if not force and revision is not None and revision == self._refused_revision:
                return ReloadResult("refused", previous_version, previous_version, self.last_error)
            uri = pinned_uri(self.source, revision)
            try:
                bundle = self._loader(uri)
                self._warmup(bundle)
            except Exception as exc:
                return self._refuse(previous_version, f"cannot load {uri}: {_describe(exc)}", revision)
            loaded = LoadedModel(bundle, str(bundle.version), self.source, revision, datetime.now(UTC))
            self._refused_revision = None
            self.last_error = None
            if previous is not None and loaded.version == previous.version:
                # Same content under a new registry version: keep the warm object, remember the new revision.
                self._current = LoadedModel(
                    previous.bundle, previous.version, self.source, revision, previous.loaded_at
                )
                return ReloadResult("unchanged", previous_version, previous_version)
            self._current = loaded  # the atomic swap: in-flight requests keep their reference to the old one
            settle_heap()
            logger.info(
                "serving model %s from %s (revision %s; was %s)",
                loaded.version,
                uri,
                revision,
                previous_version,
            )
            return ReloadResult("reloaded", loaded.version, previous_version)

    def start(self, poll_seconds: float) -> None:
        """Load in the background (live but not ready meanwhile), then poll every ``poll_seconds``."""
        self._thread = threading.Thread(
            target=self._run, args=(poll_seconds,), name="model-holder", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background thread (a load in progress finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, poll_seconds: float) -> None:
        while not self._stop.is_set() and self._current is None:
            result = self.reload(force=True)
            if result.status == "refused":
                wait = (
                    min(_INITIAL_RETRY_SECONDS, poll_seconds) if poll_seconds > 0 else _INITIAL_RETRY_SECONDS
                )
                self._stop.wait(wait)
        if poll_seconds <= 0:
            return
        while not self._stop.wait(poll_seconds):
            try:
                self.reload(force=False)
            except Exception:  # the poller must survive anything; the next tick tries again
                logger.exception("model poll failed")

    def _refuse(self, previous_version: str | None, reason: str, revision: str | None) -> ReloadResult:
        if revision is None or revision != self._refused_revision:
            logger.error("model reload refused (still serving %s): %s", previous_version, reason)
        self._refused_revision = revision
        self.last_error = reason
        return ReloadResult("refused", previous_version, previous_version, reason)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def bundle_loader(tracking_uri: str) -> Loader:
    """The production loader: ``mlflow_model.load_bundle`` for registry URIs and bundle directories."""

    def load(uri: str) -> ScoringBundle:
        if not uri.startswith(REGISTRY_URI_PREFIXES) and (Path(uri) / BUNDLE_FILE).is_file():
            # A plain bundle directory needs no MLflow: skipping its import saves seconds and ~100 MB.
            return ScoringBundle.load(uri)
        from leadscore.models.mlflow_model import (
            load_bundle,  # registry URIs and downloaded pyfunc model directories
        )

        return load_bundle(uri, tracking_uri=tracking_uri)

    return load


def holder_for(model_uri: str, tracking_uri: str) -> ModelHolder:
    """Wire the holder for a registry URI (alias polled) or a bundle directory (fingerprint polled)."""
    probe = registry_alias_probe(model_uri, tracking_uri)
    if probe is None and not model_uri.startswith(REGISTRY_URI_PREFIXES):
        path = Path(model_uri)

        def probe() -> str | None:
            return directory_fingerprint(path)

    return ModelHolder(model_uri, bundle_loader(tracking_uri), probe)
