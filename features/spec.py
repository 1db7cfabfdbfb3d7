"""FeatureSpec: which inputs a model reads and which features it derives from them.

The spec is inferred once from the training export (which roles were mapped, which extra columns exist, which
activity types are common enough) and then frozen into the scoring bundle. Roles absent from the export are
simply absent from the spec, so the same code serves a rich CRM and a bare spreadsheet.

Feature names follow the family prefixes of the style guide: ``firmo_*``, ``bant_*``, ``acq_*`` (acquisition:
lead source), ``intent_<type>_<N>d`` / ``intent_total`` / ``intent_days_since_last`` /
``intent_engagement_decayed`` and ``extra_*`` (pass-through export columns).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Literal

from leadscore.core import canonical
from leadscore.core.errors import LeakageError, SchemaError

logger = logging.getLogger(__name__)

Kind = Literal["categorical", "numeric"]

SPEC_FORMAT = 1
OTHER = "other"  # pooled rare / unseen categories and activity types
AS_OF_COLUMN = "as_of"  # optional per-lead scoring moment in scoring input

# Everything that exists only because the outcome is known, plus the simulator's Bayes probability. PII never
# reaches a model either (pull drops it; the spec refuses it as a second line of defence).
FORBIDDEN_COLUMNS = frozenset(canonical.OUTCOME_ONLY_COLUMNS) | frozenset(canonical.PII_COLUMNS)


@dataclass(frozen=True)
class FeatureDef:
    """One model feature: its name, kind and the input column(s) it is derived from."""

    name: str
    kind: Kind
    source: str  # input role/column; "activities" for intent features


@dataclass(frozen=True)
class FeatureSpec:
    """The frozen description of a model's inputs and features.

    Attributes:
        roles: canonical role columns present in the export (subset of ``canonical.ROLE_COLUMNS``).
        extra_categorical: ``xcat_*`` columns passed through as categorical features.
        extra_numeric: ``xnum_*`` columns passed through as numeric features.
        activity_types: activity-type vocabulary (sanitised, ends with ``"other"``); empty when the export has
            no activity log, in which case there are no intent features.
        intent_windows_days: look-back windows of the per-type counts.
        decay_half_life_days: half-life of the decayed engagement score.
        as_of_offset_days: default scoring moment after creation (base.as_of_offset_days).
        has_created_at: the export has creation times (wide exports ordered by a sequence column do not):
            without them there is no point in time, hence no intent features and no company age.
        excluded_activity_types: activity types (sanitised) whose events never count, not even as "other":
            the validate stage's leakage detector excluded them.
    """

    roles: tuple[str, ...] = ()
    extra_categorical: tuple[str, ...] = ()
    extra_numeric: tuple[str, ...] = ()
    activity_types: tuple[str, ...] = ()
    intent_windows_days: tuple[int, ...] = (7, 30, 90)
    decay_half_life_days: float = 14.0
    as_of_offset_days: int = 14
    has_created_at: bool = True
    excluded_activity_types: tuple[str, ...] = ()
    format: int = field(default=SPEC_FORMAT)

    def __post_init__(self) -> None:
        """Refuse outcome-only / PII columns and malformed names: leakage is impossible by construction."""
        for column in (*self.roles, *self.extra_categorical, *self.extra_numeric):
            if column in FORBIDDEN_COLUMNS:
                raise LeakageError(
                    f"column {column!r} is outcome-only or personal data and can never be a model feature"
                )
        unknown = [r for r in self.roles if r not in canonical.ROLE_COLUMNS]
        if unknown:
            raise SchemaError(
                f"unknown role column {unknown[0]!r}; known roles: {', '.join(canonical.ROLE_COLUMNS)}"
            )
        for column in self.extra_categorical:
            if not column.startswith(canonical.EXTRA_CATEGORICAL_PREFIX):
                raise SchemaError(f"extra categorical column {column!r} must start with 'xcat_'")
        for column in self.extra_numeric:
            if not column.startswith(canonical.EXTRA_NUMERIC_PREFIX):
                raise SchemaError(f"extra numeric column {column!r} must start with 'xnum_'")
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise SchemaError(f"feature names collide: {', '.join(dupes)} (rename the extra columns)")
        if self.activity_types and self.activity_types[-1] != OTHER:
            raise SchemaError("activity_types must end with the pooled 'other' type")
        if any(w <= 0 for w in self.intent_windows_days):
            raise SchemaError("intent windows must be positive numbers of days")

    # -- derived ------------------------------------------------------------------------------------------
    @property
    def has_intent(self) -> bool:
        """Whether intent (activity) features exist."""
        return bool(self.activity_types) and self.has_created_at

    @cached_property
    def features(self) -> tuple[FeatureDef, ...]:
        """All features, in the fixed column order of the model matrix."""
        out: list[FeatureDef] = []
        roles = set(self.roles)
        if canonical.INDUSTRY in roles:
            out.append(FeatureDef("firmo_industry", "categorical", canonical.INDUSTRY))
        if canonical.EMPLOYEES in roles:
            out.append(FeatureDef("firmo_log_employees", "numeric", canonical.EMPLOYEES))
            out.append(FeatureDef("firmo_size_band", "numeric", canonical.EMPLOYEES))
        if canonical.ANNUAL_REVENUE in roles:
            out.append(FeatureDef("firmo_revenue_band", "numeric", canonical.ANNUAL_REVENUE))
        if canonical.COUNTRY in roles:
            out.append(FeatureDef("firmo_region", "categorical", canonical.COUNTRY))
            out.append(FeatureDef("firmo_country", "categorical", canonical.COUNTRY))
        if canonical.FOUNDED_YEAR in roles:
            # Without a point in time the age is unknown; the founding year itself is the next best thing.
            name = "firmo_company_age" if self.has_created_at else "firmo_founded_year"
            out.append(FeatureDef(name, "numeric", canonical.FOUNDED_YEAR))
        if canonical.BUDGET in roles:
            out.append(FeatureDef("bant_budget", "categorical", canonical.BUDGET))
        if canonical.CONTACT_TITLE in roles:
            out.append(FeatureDef("bant_authority", "categorical", canonical.CONTACT_TITLE))
        if canonical.NEED in roles:
            out.append(FeatureDef("bant_need", "categorical", canonical.NEED))
        if canonical.TIMELINE in roles:
            out.append(FeatureDef("bant_timeframe", "numeric", canonical.TIMELINE))
        if canonical.LEAD_SOURCE in roles:
            out.append(FeatureDef("acq_lead_source", "categorical", canonical.LEAD_SOURCE))
        out += [FeatureDef(extra_feature_name(c), "categorical", c) for c in self.extra_categorical]
        out += [FeatureDef(extra_feature_name(c), "numeric", c) for c in self.extra_numeric]
        if self.has_intent:
            out += [FeatureDef(n, "numeric", "activities") for n in self.intent_feature_names]
        return tuple(out)

    # Name lists are derived once per spec (scoring asks for them on every call); the properties hand out
    # copies so a caller cannot change the spec by mutating a list.
    @cached_property
    def _intent_names(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        counts = tuple(intent_count_name(t, w) for t in self.activity_types for w in self.intent_windows_days)
        intent = (*counts, "intent_total", "intent_days_since_last", "intent_engagement_decayed")
        return counts, (intent if self.has_intent else ())

    @cached_property
    def _feature_names(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        names = tuple(f.name for f in self.features)
        return names, tuple(f.name for f in self.features if f.kind == "categorical")

    @property
    def feature_names(self) -> list[str]:
        """Model feature names in matrix column order."""
        return list(self._feature_names[0])

    @property
    def categorical_features(self) -> list[str]:
        """Names of the categorical features (LightGBM native categoricals via integer codes)."""
        return list(self._feature_names[1])

    @property
    def intent_count_names(self) -> list[str]:
        """``intent_<type>_<N>d`` names, type-major."""
        return list(self._intent_names[0])

    @property
    def intent_feature_names(self) -> list[str]:
        """All intent feature names (counts, total, recency, decayed engagement)."""
        return list(self._intent_names[1])

    @property
    def input_columns(self) -> list[str]:
        """Columns a scoring request must carry (values may be null); intent inputs are optional."""
        return [*self.roles, *self.extra_categorical, *self.extra_numeric]

    # -- persistence --------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; the derived feature list is included for humans and ignored on load."""
        out = asdict(self)
        out["feature_names"] = self.feature_names
        out["categorical_features"] = self.categorical_features
        return out

    def to_json(self) -> str:
        """Pretty JSON (data/processed/spec.json)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FeatureSpec:
        """Rebuild a spec written by ``to_dict`` (derived keys are recomputed, not trusted)."""
        if raw.get("format", SPEC_FORMAT) != SPEC_FORMAT:
            raise SchemaError(
                f"feature spec format {raw.get('format')} is not supported (expected {SPEC_FORMAT})"
            )
        kwargs = {
            "roles": tuple(raw.get("roles", ())),
            "extra_categorical": tuple(raw.get("extra_categorical", ())),
            "extra_numeric": tuple(raw.get("extra_numeric", ())),
            "activity_types": tuple(raw.get("activity_types", ())),
            "intent_windows_days": tuple(int(w) for w in raw.get("intent_windows_days", (7, 30, 90))),
            "decay_half_life_days": float(raw.get("decay_half_life_days", 14.0)),
            "as_of_offset_days": int(raw.get("as_of_offset_days", 14)),
            "has_created_at": bool(raw.get("has_created_at", True)),
            "excluded_activity_types": tuple(raw.get("excluded_activity_types", ())),
        }
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        """Parse ``to_json`` output."""
        return cls.from_dict(json.loads(text))


def extra_feature_name(column: str) -> str:
    """``xcat_plan`` / ``xnum_visits`` -> ``extra_plan`` / ``extra_visits``."""
    for prefix in (canonical.EXTRA_CATEGORICAL_PREFIX, canonical.EXTRA_NUMERIC_PREFIX):
        if column.startswith(prefix):
            return "extra_" + column[len(prefix) :]
    return "extra_" + column


def intent_count_name(activity_type: str, window_days: int) -> str:
    """``intent_<type>_<N>d``."""
    return f"intent_{activity_type}_{int(window_days)}d"


def infer_spec(
    columns: Iterable[str],
    *,
    activity_types: Iterable[str] | None = None,
    intent_windows_days: Iterable[int] = (7, 30, 90),
    decay_half_life_days: float = 14.0,
    as_of_offset_days: int = 14,
    excluded_activity_types: Iterable[str] = (),
) -> FeatureSpec:
    """Build a spec from the columns of a canonical leads table.

    Outcome-only columns (label, status, ...) are legitimately present in the training table and are skipped
    here; the spec itself refuses them if they are ever named as features.

    Args:
        columns: column names of the canonical leads table.
        activity_types: activity-type vocabulary (see ``intent.activity_type_vocabulary``); None means the
            export has no activity log, hence no intent features. "other" is always appended.
        intent_windows_days: look-back windows for per-type counts.
        decay_half_life_days: half-life of the decayed engagement score.
        as_of_offset_days: default scoring moment after creation.
        excluded_activity_types: sanitised activity types whose events are ignored everywhere (leakage
            suspects excluded by the validate stage), so that scoring drops them exactly as training did.
    """
    present = list(dict.fromkeys(columns))
    types = [t for t in (activity_types or ()) if t != OTHER]
    has_created_at = canonical.CREATED_AT in present
    return FeatureSpec(
        roles=tuple(r for r in canonical.ROLE_COLUMNS if r in present),
        extra_categorical=tuple(
            sorted(
                c
                for c in present
                if c.startswith(canonical.EXTRA_CATEGORICAL_PREFIX) and c not in FORBIDDEN_COLUMNS
            )
        ),
        extra_numeric=tuple(
            sorted(
                c
                for c in present
                if c.startswith(canonical.EXTRA_NUMERIC_PREFIX) and c not in FORBIDDEN_COLUMNS
            )
        ),
        activity_types=(*types, OTHER) if activity_types is not None and has_created_at else (),
        intent_windows_days=tuple(sorted({int(w) for w in intent_windows_days})),
        decay_half_life_days=float(decay_half_life_days),
        as_of_offset_days=int(as_of_offset_days),
        has_created_at=has_created_at,
        excluded_activity_types=tuple(sorted(set(excluded_activity_types))),
    )
