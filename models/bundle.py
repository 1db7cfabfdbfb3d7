"""ScoringBundle: everything needed to turn a lead into a calibrated, explained score, in one object.

The bundle holds the feature spec, the fitted transformer, the LightGBM booster, the extracted calibrator, the
frozen band thresholds, the reason tables, a reference frame for drift monitoring and provenance metadata.
Batch scoring (``score``), the API (``score_records``) and evaluation all go through ``_score_batch``, so the
numbers cannot differ between them.

On disk a bundle is a directory: ``bundle.joblib`` (the object; load only bundles you trust, joblib is
pickle), ``metadata.json`` (human-readable provenance), ``model.txt`` (LightGBM text model), ``spec.json`` and
``reference.parquet``. ``version`` is a content hash of what determines the scores (model, spec, vocabularies,
calibrator, bands, reason tables), so the same training data and params give the same version.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd

from leadscore.core import canonical
from leadscore.core.errors import ConfigError, SchemaError
from leadscore.features.build import FeatureBatch, build_features, leads_from_frame, leads_from_records
from leadscore.features.intent import activity_columns
from leadscore.features.spec import FeatureSpec
from leadscore.features.transform import FeatureTransformer
from leadscore.models.bands import BandScheme
from leadscore.models.calibrate import Calibrator
from leadscore.models.reasons import ReasonExplainer
from leadscore.models.single_row import SingleRowPredictor

logger = logging.getLogger(__name__)

BUNDLE_FORMAT = 1
SINGLE_THREAD_ROWS = 512
# Up to this many rows, LightGBM's single-row fast API (a few us per row) beats one predict call (~45 us).
FAST_PATH_ROWS = 8
BUNDLE_FILE = "bundle.joblib"
# Top-level module names of bundles pickled before the packages moved under ``leadscore``.
LEGACY_MODULE_ROOTS = frozenset({"features", "models", "serving", "pipelines"})
METADATA_FILE = "metadata.json"
OUTPUT_COLUMNS = (
    canonical.LEAD_ID,
    "probability",
    "score",
    "band",
    "is_mql",
    "is_sql",
    "reasons_positive",
    "reasons_negative",
    "features_hash",
)


_UINT64 = (1 << 64) - 1


def _splitmix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, element-wise on uint64 (wrapping arithmetic is intended)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _hash_rows(X: np.ndarray) -> list[str]:
    """64-bit content hash of each model-matrix row, as 16 hex digits (which inputs produced this score).

    Vectorised over the whole matrix (a per-row cryptographic hash costs more than the model at 20k leads/s):
    each cell's bit pattern is offset by its column, mixed (splitmix64), summed per row and mixed again. An
    audit fingerprint, not a security measure; identical for a row whatever batch it is scored in.
    """
    if len(X) == 0:
        return []
    X = np.ascontiguousarray(X, dtype=np.float64).reshape(len(X), -1)
    # -0.0 and 0.0 (and NaN payloads) must hash alike: normalise the bit patterns first.
    words = np.ascontiguousarray(np.where(np.isnan(X), np.nan, X) + 0.0).view(np.uint64)
    width = words.shape[1]
    with np.errstate(over="ignore"):
        mixed = _splitmix(words + _column_offsets(width)).sum(axis=1, dtype=np.uint64)
    if len(X) <= FAST_PATH_ROWS:  # a few rows (API calls): the last mix on Python ints beats nine numpy calls
        return [f"{_splitmix_int(v ^ width):016x}" for v in mixed.tolist()]
    return [f"{v:016x}" for v in _splitmix(mixed ^ np.uint64(width)).tolist()]


@functools.lru_cache(maxsize=16)
def _column_offsets(width: int) -> np.ndarray:
    """Per-column offsets of ``_hash_rows`` (one array per matrix width, read-only since it is shared)."""
    with np.errstate(over="ignore"):
        offsets = np.arange(1, width + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    offsets.flags.writeable = False
    return offsets


def _splitmix_int(x: int) -> int:
    """``_splitmix`` of one value on Python ints (the same wrapping 64-bit arithmetic, by masking)."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _UINT64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _UINT64
    return x ^ (x >> 31)


def feature_rows(batch: FeatureBatch) -> list[dict[str, Any]]:
    """Raw feature values per lead as JSON-ready dicts (NaN -> None), converted column by column."""
    names = list(batch.features)
    if len(batch) == 1:  # the API's lead: one dict straight from the first values
        return [{name: None if v != v else v for name, v in zip(names, _firsts(batch.features), strict=True)}]
    if len(batch) <= FAST_PATH_ROWS:
        # One API lead: a Python NaN check per value beats two numpy calls per column.
        columns = [[None if v != v else v for v in batch.features[name].tolist()] for name in names]
    else:
        columns = [_plain_values(batch.features[name]) for name in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _firsts(columns: Mapping[str, np.ndarray]) -> list[Any]:
    """The first value of each column as a Python value (``item`` gives what ``tolist`` gives)."""
    return [values.item(0) for values in columns.values()]


def _plain_values(column: np.ndarray) -> list[Any]:
    """Python values of one feature column, NaN as None (JSON has no NaN)."""
    if column.dtype.kind == "f":
        missing = np.isnan(column)
        if missing.any():
            values = column.astype(object)
            values[missing] = None
            return values.tolist()  # type: ignore[no-any-return]
    return column.tolist()  # type: ignore[no-any-return]


class ScoringBundle:
    """A trained, calibrated, explained lead-scoring model.

    Args:
        spec: feature spec.
        transformer: fitted FeatureTransformer.
        booster: LightGBM booster (already trimmed to its best iteration).
        calibrator: raw margin -> probability.
        bands: frozen band thresholds.
        explainer: reason lookup tables and wording.
        reference: validation-period raw features, probability and label (drift monitoring).
        metadata: provenance and training metrics (JSON-ready).
    """

    def __init__(
        self,
        spec: FeatureSpec,
        transformer: FeatureTransformer,
        booster: lgb.Booster,
        calibrator: Calibrator,
        bands: BandScheme,
        explainer: ReasonExplainer,
        reference: pd.DataFrame,
        metadata: Mapping[str, Any],
    ) -> None:
        self.spec = spec
        self.transformer = transformer
        self.booster = booster
        self.calibrator = calibrator
        self._bands = bands
        self.explainer = explainer
        self._reference = reference
        self.format = BUNDLE_FORMAT
        self._version = self._content_hash()
        self._metadata = {**dict(metadata), "version": self._version, "bundle_format": BUNDLE_FORMAT}

    # -- identity --------------------------------------------------------------------------------------------
    def _content_hash(self) -> str:
        digest = hashlib.sha256()
        parts = [
            str(BUNDLE_FORMAT),
            # Trees and feature infos only: the trailing "parameters:" block records run settings such as
            # num_threads, which do not change a single split (deterministic training), so not the version.
            self.booster.model_to_string().split("\nparameters:", 1)[0],
            self.spec.to_json(),
            json.dumps(self.transformer.state(), sort_keys=True),
            json.dumps(self.calibrator.to_dict(), sort_keys=True),
            json.dumps(self._bands.to_dict(), sort_keys=True),
            json.dumps(self.explainer.state(), sort_keys=True),
        ]
        for part in parts:
            digest.update(part.encode())
            digest.update(b"\x00")
        return digest.hexdigest()[:16]

    @property
    def version(self) -> str:
        """Content hash of everything that determines the scores."""
        return self._version

    @property
    def metadata(self) -> dict[str, Any]:
        """Provenance (git_sha, params_hash, data_hash, trained_at), features, bands, calibration, metrics."""
        return self._metadata

    @property
    def reference(self) -> pd.DataFrame:
        """Validation-period raw feature values, probability and label, for drift monitors."""
        return self._reference

    @property
    def feature_names(self) -> list[str]:
        """Model features in matrix order."""
        return self.spec.feature_names

    @property
    def bands(self) -> BandScheme:
        """Band scheme: probability thresholds (best band first) and the MQL / SQL bands."""
        return self._bands

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the single-row predictor (a C handle; rebuilt on first use after loading)."""
        return {k: v for k, v in self.__dict__.items() if k != "_single_row"}

    # -- scoring ---------------------------------------------------------------------------------------------
    def predict_raw(self, X: np.ndarray) -> np.ndarray:
        """Raw margin of the booster for a model matrix.

        One-lead API calls go through LightGBM's single-row fast API (same trees, same margins, bit for bit;
        see ``leadscore.models.single_row``). Other small batches predict on one thread: OpenMP's thread
        start-up and spin-waiting cost more than a few rows of trees and steal the CPU from the rest of the
        request.
        """
        if len(X) <= FAST_PATH_ROWS:
            predictor = self.__dict__.get("_single_row")
            if predictor is None:
                predictor = self.__dict__["_single_row"] = SingleRowPredictor(self.booster)
            return predictor.predict(X)
        if len(X) < SINGLE_THREAD_ROWS:
            return np.asarray(self.booster.predict(X, raw_score=True, num_threads=1))
        return np.asarray(self.booster.predict(X, raw_score=True))

    def _score_batch(
        self, batch: FeatureBatch, *, top_reasons: int, with_reasons: bool, exact_reasons: bool
    ) -> dict[str, Any]:
        X = self.transformer.encode_columns(batch.features)
        probability = self.calibrator(self.predict_raw(X)) if len(batch) else np.empty(0)
        band_codes = self._bands.codes(probability)
        is_mql, is_sql = self._bands.flags(band_codes)
        out: dict[str, Any] = {
            canonical.LEAD_ID: batch.lead_id,
            "probability": probability,
            "score": np.rint(100.0 * probability).astype(np.int64),
            "band": np.asarray(self._bands.names, dtype=object)[band_codes],
            "is_mql": is_mql,
            "is_sql": is_sql,
        }
        if with_reasons and top_reasons > 0 and len(batch) and self.calibrator.uses_score:
            impacts = self.explainer.impacts(X, self.booster, exact=exact_reasons)
            positive, negative = self.explainer.explain(X, batch, impacts, top_reasons)
        else:
            positive = negative = [[] for _ in range(len(batch))]
        out["reasons_positive"] = positive
        out["reasons_negative"] = negative
        out["features_hash"] = _hash_rows(X)
        return out

    def score(
        self,
        leads: pd.DataFrame,
        activities: pd.DataFrame | None = None,
        *,
        as_of: Any = None,
        top_reasons: int = 3,
        with_reasons: bool = True,
        exact_reasons: bool = False,
    ) -> pd.DataFrame:
        """Score a DataFrame of canonical leads.

        Args:
            leads: canonical columns (lead_id, created_at, the spec's role and extra columns; optional
                ``as_of`` column; optional pre-aggregated intent columns, read only without ``activities``).
            activities: activity log (lead_id, occurred_at, activity_type); only events before each lead's
                as_of count.
            as_of: one scoring moment for all leads; None -> per-lead ``as_of`` column, else created_at +
                offset.
            top_reasons: number of positive and of negative reasons per lead.
            with_reasons: False skips reasons (faster).
            exact_reasons: use exact TreeSHAP (slow) instead of the lookup tables.

        Returns:
            Index-aligned with ``leads``: lead_id, probability, score, band, is_mql, is_sql, reasons_positive,
            reasons_negative, features_hash.

        Raises:
            SchemaError: a required column is missing or has the wrong type (the message names it).
        """
        batch = build_features(
            leads_from_frame(leads, self.spec), self.spec, activity_columns(activities), as_of
        )
        out = self._score_batch(
            batch, top_reasons=top_reasons, with_reasons=with_reasons, exact_reasons=exact_reasons
        )
        return pd.DataFrame({c: out[c] for c in OUTPUT_COLUMNS}, index=leads.index)

    def score_records(
        self,
        records: Sequence[Mapping[str, Any]],
        activities: Sequence[Mapping[str, Any]] | None = None,
        *,
        as_of: Any = None,
        top_reasons: int = 3,
        with_reasons: bool = True,
        exact_reasons: bool = False,
        with_features: bool = False,
    ) -> list[dict[str, Any]]:
        """Score request dicts (the API's fast path): same code and numbers as ``score``, no DataFrames.

        Args:
            records: one dict per lead with the canonical keys (see ``score``).
            activities: activity dicts (lead_id, occurred_at, activity_type) of these leads, or None.
            as_of: see ``score``.
            top_reasons: see ``score``.
            with_reasons: see ``score``.
            exact_reasons: see ``score``.
            with_features: also return each lead's raw feature values under ``features`` (name -> JSON-ready
                value, None for missing), the values the prediction log keeps for drift monitoring. They are
                the columns this very call built, so logging them costs a conversion, not a second pass.

        Returns:
            One JSON-ready dict per record, in order, with the keys of ``score``'s columns (+ ``features``).
        """
        if isinstance(records, pd.DataFrame) or not isinstance(records, Sequence):
            raise SchemaError("records must be a list of lead dicts")
        if not records:
            return []
        batch = build_features(
            leads_from_records(records, self.spec), self.spec, activity_columns(activities), as_of
        )
        out = self._score_batch(
            batch, top_reasons=top_reasons, with_reasons=with_reasons, exact_reasons=exact_reasons
        )
        columns = [
            out[canonical.LEAD_ID].tolist(),
            out["probability"].tolist(),
            out["score"].tolist(),
            out["band"].tolist(),
            out["is_mql"].tolist(),
            out["is_sql"].tolist(),
            out["reasons_positive"],
            out["reasons_negative"],
            out["features_hash"],
        ]
        rows = [dict(zip(OUTPUT_COLUMNS, row, strict=True)) for row in zip(*columns, strict=True)]
        if with_features:
            for row, features in zip(rows, feature_rows(batch), strict=True):
                row["features"] = features
        return rows

    # -- persistence -----------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the bundle directory (created if needed; existing bundle files are replaced)."""
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, directory / BUNDLE_FILE, compress=3)
        (directory / METADATA_FILE).write_text(
            json.dumps(self._metadata, indent=2, sort_keys=True, default=str)
        )
        (directory / "model.txt").write_text(self.booster.model_to_string())
        (directory / "spec.json").write_text(self.spec.to_json())
        self._reference.to_parquet(directory / "reference.parquet", index=False)
        logger.info("saved scoring bundle %s to %s", self._version, directory)
        return directory

    @classmethod
    def load(cls, path: str | Path) -> ScoringBundle:
        """Load a bundle directory written by ``save`` and verify its content hash.

        Raises:
            ConfigError: not a bundle directory, an unknown format, or a content-hash mismatch.
        """
        file = Path(path) / BUNDLE_FILE
        if not file.is_file():
            raise ConfigError(f"no scoring bundle at {path} (missing {BUNDLE_FILE})")
        try:
            bundle = joblib.load(file)
        except ImportError as exc:
            # Bundles saved before the single import root name ``features.*`` / ``models.*`` classes.
            if (exc.name or "").split(".")[0] in LEGACY_MODULE_ROOTS or "leadscore's packages live" in str(
                exc
            ):
                raise ConfigError(
                    f"scoring bundle {file} was saved by an older leadscore (before its packages moved under "
                    "leadscore.*) and cannot be loaded: retrain it with `dvc repro` (or `make pipeline`)"
                ) from None
            raise ConfigError(f"cannot read scoring bundle {file}: {type(exc).__name__}: {exc}") from None
        except Exception as exc:  # a truncated or foreign file: one clear line, not a pickle traceback
            raise ConfigError(f"cannot read scoring bundle {file}: {type(exc).__name__}: {exc}") from None
        if not isinstance(bundle, cls):
            raise ConfigError(f"{file} does not hold a ScoringBundle")
        if getattr(bundle, "format", None) != BUNDLE_FORMAT:
            raise ConfigError(f"scoring bundle format {getattr(bundle, 'format', None)} is not supported")
        if bundle._content_hash() != bundle.version:
            raise ConfigError(f"scoring bundle {file} is corrupt: content hash does not match its version")
        return bundle

    def __repr__(self) -> str:
        """Short description."""
        return f"ScoringBundle(version={self._version!r}, features={len(self.feature_names)})"
