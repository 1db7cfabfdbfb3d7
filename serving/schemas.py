"""Request and response bodies of the scoring API.

Validation is strict: a string where a number belongs is a 422 naming the field, never silently coerced,
because a CRM sending ``"employees": "250"`` has a mapping bug that coercion would hide until the scores
looked odd. Timestamps are the one exception (JSON has no date type): ISO 8601 strings are parsed and
normalised to naive UTC, like the canonical data. Unknown fields are rejected for the same reason (a typo
would otherwise go unnoticed).

Contact fields (name, e-mail, phone) are accepted so CRMs can send their lead object as is, but they are
excluded from every dump and dropped before a record reaches the model, the prediction log or a log line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from leadscore.core import canonical
from leadscore.core.timestamps import PLAUSIBLE_YEARS, utc_naive

MAX_ACTIVITIES_PER_LEAD = 10_000


def _iso_string(value: Any) -> Any:
    # Lax datetime parsing would also take 1700000000 as a Unix time; a number here is a client bug.
    if isinstance(value, str | datetime):
        return value
    raise ValueError("expected an ISO 8601 date-time string")


# Placeholders such as 9999-12-31 ("no date") or 0001-01-01 parse as datetimes but overflow the scoring clock
# (int64 nanoseconds, plus the as-of offset): refuse them here, naming the field, before they reach the model.
# Checked on the value as sent, before the conversion to UTC, which itself overflows at the ends of the
# datetime range. The years are the validation gate's (leadscore.core.timestamps), so the API and training
# agree.
def _within_years(value: datetime) -> datetime:
    low, high = PLAUSIBLE_YEARS
    if not low <= value.year <= high:
        raise ValueError(f"must be a date-time between the years {low} and {high}")
    return value


Timestamp = Annotated[
    datetime,
    BeforeValidator(_iso_string),
    Field(strict=False),
    AfterValidator(_within_years),
    AfterValidator(utc_naive),
]


# Strings that reach the prediction log or key its rows must not carry control characters: PostgreSQL refuses
# a NUL in any text column ("text fields cannot contain NUL"), and a row the database refuses must be refused
# here, as a 422 naming the field, not discovered by the log writer after the lead was scored. Identifiers
# (lead ids, activity types, extra and intent names) take no control character at all; free text may hold
# tabs and line breaks (a "need" typed into a CRM form) but never a NUL.
# Unicode's control characters (category Cc) are exactly these two ranges; one compiled search per string
# keeps validation cheap for a batch whose every lead carries dozens of intent names.
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")


def _no_control_characters(value: str) -> str:
    if _CONTROL_CHARACTER.search(value):
        raise ValueError("must not contain control characters")
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _lead_id(value: str) -> str:
    # The feature code strips ids and reads a blank one as missing (results and log rows are keyed by it):
    # strip here too, so scoring and outcomes use the same key for " L1 " and "L1", and refuse a blank id.
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return _no_control_characters(value)


def _names_without_control_characters(values: dict[str, Any]) -> dict[str, Any]:
    # A lead's intent counts come as dozens of names: one search over all of them, not one call per name.
    if values and _CONTROL_CHARACTER.search(" ".join(values)):
        bad = next(name for name in values if _CONTROL_CHARACTER.search(name))
        raise ValueError(f"names must not contain control characters ({bad!r})")
    return values


Text = Annotated[str, Field(max_length=512), AfterValidator(_no_nul)]
Name = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_control_characters)]
ModelVersion = Annotated[str, Field(max_length=64), AfterValidator(_no_control_characters)]
LeadId = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_lead_id)]
Number = Annotated[float, Field(allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def _plausible(column: str) -> Any:
    # The training gate's own bounds (canonical.NUMERIC_RANGES): a value it would reject is a 422, not a
    # score.
    low, high = canonical.NUMERIC_RANGES[column]
    return Field(ge=low, le=high)


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(strict=False)


# --- scoring ---------------------------------------------------------------------------------------------
class Activity(_Strict):
    """One engagement event of the lead (web visit, e-mail click, demo request...)."""

    occurred_at: Timestamp
    activity_type: Name


class LeadIn(_Strict):
    """A lead in canonical form: what the CRM knows about it at scoring time.

    Send the raw ``activities`` (only those before ``as_of`` count) or already aggregated ``intent`` counts
    named like the model's intent features (see GET /v1/model ``metadata.feature_names``), not both.
    """

    lead_id: LeadId
    created_at: Timestamp
    industry: Text | None = None
    employees: Annotated[Number, _plausible(canonical.EMPLOYEES)] | None = None
    annual_revenue: Annotated[Number, _plausible(canonical.ANNUAL_REVENUE)] | None = None
    country: Text | None = None
    founded_year: Annotated[Number, _plausible(canonical.FOUNDED_YEAR)] | None = None
    contact_title: Text | None = None
    budget_status: Text | None = None
    purchase_timeframe: Text | None = None
    need: Text | None = None
    lead_source: Text | None = None
    extras: dict[Name, Text | Number | None] | None = Field(
        None,
        description="Extra export columns the model was trained with, under their export names (matched like "
        "the pull stage names them: `Lead Quality` is the model's `xcat_lead_quality`) or their model column "
        "names (`xcat_...`/`xnum_...`); null when unknown. Extras the model does not use are ignored.",
    )
    as_of: Timestamp | None = Field(
        None, description="Score the lead as of this moment (default: created_at + the model's offset)."
    )
    activities: list[Activity] | None = Field(None, max_length=MAX_ACTIVITIES_PER_LEAD)
    intent: (
        Annotated[
            dict[Annotated[str, Field(min_length=1, max_length=64)], NonNegative | None],
            AfterValidator(_names_without_control_characters),
        ]
        | None
    ) = None
    # PII: accepted, never stored, logged or scored.
    contact_name: Text | None = Field(None, exclude=True, description="Accepted and dropped (never stored).")
    email: Text | None = Field(None, exclude=True, description="Accepted and dropped (never stored).")
    phone: Text | None = Field(None, exclude=True, description="Accepted and dropped (never stored).")

    @model_validator(mode="after")
    def _activities_or_intent(self) -> LeadIn:
        if self.activities is not None and self.intent is not None:
            raise ValueError("send either activities or intent counts, not both")
        return self

    def to_record(self, extra_columns: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The canonical record handed to ``bundle.score_records`` (no PII, no activities).

        Args:
            extra_columns: this lead's ``extras`` already resolved onto the model's extra columns
                (``leadscore.serving.extras.resolve_extras``: the naming needs the model's spec, which this
                body lacks).
        """
        record: dict[str, Any] = {canonical.LEAD_ID: self.lead_id, canonical.CREATED_AT: self.created_at}
        for role in canonical.ROLE_COLUMNS:
            record[role] = getattr(self, role)
        if extra_columns:
            record.update(extra_columns)
        if self.as_of is not None:
            record["as_of"] = self.as_of
        if self.intent:
            record.update(self.intent)
        return record


class BatchScoreRequest(_Strict):
    """Up to LEADSCORE_MAX_BATCH_SIZE leads scored in one call (one model pass, one log write)."""

    leads: list[LeadIn] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_lead_ids(self) -> BatchScoreRequest:
        # Results, log rows and activity logs are keyed by lead id: a repeated id is ambiguous, whatever else
        # the leads carry. The error names the repeat's own field, like every other 422.
        first: dict[str, int] = {}
        for i, lead in enumerate(self.leads):
            seen = first.setdefault(lead.lead_id, i)  # already stripped, like the feature code does
            if seen != i:
                detail = InitErrorDetails(
                    type=PydanticCustomError(
                        "duplicate_lead_id", "lead_id repeats leads.{first}.lead_id", {"first": seen}
                    ),
                    loc=("leads", i, "lead_id"),
                    input=lead.lead_id,
                )
                raise ValidationError.from_exception_data(type(self).__name__, [detail])
        return self


class Reason(_Out):
    """One driver of the score, in business words."""

    feature: str = Field(description="Model feature name.")
    label: str = Field(description="What the feature means to sales, e.g. 'Budget confirmed'.")
    value: str | float | int | bool | None = Field(None, description="The lead's value of that feature.")
    impact: float = Field(description="Contribution to the score (log-odds; positive raises it).")


class ScoreResponse(_Out):
    """The calibrated score of one lead."""

    lead_id: str
    probability: float = Field(description="Calibrated probability that the lead converts.")
    score: int = Field(ge=0, le=100, description="round(100 * probability).")
    band: str = Field(description="Score band, 'A' best; thresholds are on probability so they do not shift.")
    is_mql: bool
    is_sql: bool
    reasons_positive: list[Reason]
    reasons_negative: list[Reason]
    model_version: str
    scored_at: datetime


class BatchScoreResponse(_Out):
    """Scores in request order."""

    model_version: str
    count: int
    results: list[ScoreResponse]


# --- outcomes --------------------------------------------------------------------------------------------
class OutcomeIn(_Strict):
    """A lead that closed in the CRM."""

    lead_id: LeadId
    outcome: Literal["won", "lost"]
    closed_at: Timestamp


class OutcomesRequest(_Strict):
    """Outcomes to record; re-posting the same outcome is a no-op, a changed one updates the stored row."""

    outcomes: list[OutcomeIn] = Field(min_length=1)


class OutcomesResponse(_Out):
    """What the post changed."""

    received: int
    inserted: int
    updated: int
    unchanged: int
    unknown_lead_ids: list[str] = Field(
        description="Lead ids that were never scored by this service: not stored (check the CRM mapping)."
    )


# --- model -----------------------------------------------------------------------------------------------
class ModelInfo(_Out):
    """The bundle currently serving."""

    version: str = Field(description="Content hash of the bundle.")
    source: str = Field(description="Registry URI or bundle directory it was loaded from.")
    source_revision: str | None = Field(
        None, description="Registry version (or directory fingerprint) the source pointed to at load time."
    )
    loaded_at: datetime
    metadata: dict[str, Any]


class ReloadResponse(_Out):
    """Result of a reload that did not fail (a refused reload is a 409 error body)."""

    status: Literal["reloaded", "unchanged"]
    version: str
    previous_version: str | None


class HealthResponse(_Out):
    """Liveness/readiness."""

    status: Literal["ok", "ready"]
    model_version: str | None = None


# --- errors ----------------------------------------------------------------------------------------------
class ErrorDetail(_Out):
    """Machine-readable code, human message and the offending field (dotted path) when there is one."""

    code: str
    message: str
    field: str | None = None


class ErrorBody(_Out):
    """Every error response has this shape."""

    error: ErrorDetail


# --- accuracy --------------------------------------------------------------------------------------------
class MetricRange(_Out):
    """Where a realized metric should fall if the model were still calibrated (Monte-Carlo, 95 %)."""

    mean: float | None
    low: float | None
    high: float | None


class BandCalibration(_Out):
    """Predicted vs observed conversion in one score band."""

    band: str
    n: int
    won: int
    mean_predicted: float
    observed_rate: float


class DecileLift(_Out):
    """Conversion and lift in one score decile (1 = highest scores)."""

    decile: int
    n: int
    conversions: int
    win_rate: float | None
    lift: float | None
    mean_probability: float | None
    cumulative_gain: float | None


class RealizedAccuracy(_Out):
    """Accuracy on leads whose outcomes arrived (latest score per lead made before it closed)."""

    status: Literal["ok", "not_enough_outcomes"]
    message: str | None = None
    n: int
    n_won: int
    n_lost: int
    auc: float | None = None
    brier: float | None = None
    base_rate: float | None = None
    mean_predicted: float | None = None
    ece: float | None = None
    top_decile_lift: float | None = None
    calibration_by_band: list[BandCalibration] = Field(default_factory=list)
    lift_by_decile: list[DecileLift] = Field(default_factory=list)
    expected_if_calibrated: dict[str, MetricRange] = Field(
        default_factory=dict,
        description="Range each metric should fall in on these leads if the model is still calibrated; a "
        "realized value outside it is evidence of decay rather than noise.",
    )


class EstimatedAccuracy(_Out):
    """Label-free CBPE estimate for scored leads still open (trusts the calibration)."""

    status: Literal["ok", "not_enough_open_leads"]
    message: str | None = None
    n_open: int
    expected_conversions: float | None = None
    expected_base_rate: float | None = None
    expected_auc: float | None = None
    expected_brier: float | None = None
    expected_ranges: dict[str, MetricRange] = Field(default_factory=dict)


class AccuracyResponse(_Out):
    """Realized and estimated accuracy of the leads scored in the window."""

    start: datetime | None
    end: datetime | None
    model_version: str | None
    scored_leads: int
    realized: RealizedAccuracy
    estimated: EstimatedAccuracy


# --- drift -----------------------------------------------------------------------------------------------
class _DriftStatistics(_Out):
    """What every drift read-out carries: PSI with its verdict, and the distances that fit the values."""

    psi: float | None
    verdict: str
    drifted: bool
    js_distance: float | None = None
    wasserstein: float | None = None
    ks_pvalue: float | None = None


class FeatureDrift(_DriftStatistics):
    """Drift of one feature: PSI with its verdict, plus the distance that fits its type."""

    feature: str
    kind: str
    chi2_pvalue: float | None = None
    reference_missing_share: float | None = None
    current_missing_share: float | None = None
    top_bin: str | None = None
    top_bin_reference_share: float | None = None
    top_bin_current_share: float | None = None


class ScoreDrift(_DriftStatistics):
    """Drift of the predicted probability itself."""

    reference_mean: float | None = None
    current_mean: float | None = None


class DriftResponse(_Out):
    """Recent scored leads against the serving bundle's reference (validation-period) window."""

    status: Literal["ok", "not_enough_predictions"]
    message: str | None = None
    start: datetime | None
    end: datetime | None
    model_version: str = Field(description="Bundle whose reference window was compared against.")
    n_reference: int
    n_current: int
    truncated: bool = Field(
        description="True when only the newest LEADSCORE_DRIFT_MAX_ROWS predictions were used."
    )
    verdict: Literal["stable", "drift", "unknown"]
    dataset_drift: bool | None = None
    n_drifted: int = 0
    share_drifted: float | None = None
    drifted_features: list[str] = Field(default_factory=list)
    features: list[FeatureDrift] = Field(default_factory=list)
    score: ScoreDrift | None = None
    thresholds: dict[str, Any] = Field(default_factory=dict)
    unavailable_features: list[str] = Field(
        default_factory=list,
        description="Monitored features missing from the logged rows (shown as missing).",
    )
