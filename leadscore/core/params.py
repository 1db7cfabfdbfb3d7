"""Typed view of params.yaml.

Everything that changes an artifact lives in params.yaml and is parsed here once, at the edge (a pipeline
entry point or the CLI), into frozen models with ``extra="forbid"`` so that a typo fails at load time instead
of being silently ignored. Library functions receive these objects; they never read files themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from leadscore.core.errors import ConfigError

# Where the models live unless configured otherwise: the pipeline, `leadscore score`, `leadscore models` and
# the API all default to these, so they are written once.
DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
DEFAULT_MODEL_NAME = "lead_scorer"
CHAMPION_ALIAS = "champion"
DEFAULT_MODEL_URI = f"models:/{DEFAULT_MODEL_NAME}@{CHAMPION_ALIAS}"


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BaseParams(_Params):
    """Settings shared by several stages."""

    seed: int = 42
    # Training rows are featurised as of this many days after lead creation: the moment the score is used.
    as_of_offset_days: int = Field(14, ge=0, le=365)


class SimulateParams(_Params):
    """The built-in simulated CRM (the embedded default source)."""

    n_leads: int = Field(50_000, ge=100)
    start: str = "2023-01-01"
    days: int = Field(1095, ge=30)
    missing_enrichment_rate: float = Field(0.12, ge=0.0, le=0.9)
    drift_strength: float = Field(1.0, ge=0.0, le=3.0)
    open_lead_days: int = Field(60, ge=0)


class ActivityMapping(_Params):
    """Where the activity log lives and which of its columns hold what."""

    path: str | None = None  # files source: CSV/Parquet path
    table: str | None = None  # sql source: table name
    query: str | None = None  # sql source: query (instead of table)
    lead_id: str = "lead_id"
    occurred_at: str = "occurred_at"
    activity_type: str = "activity_type"


class JoinSpec(_Params):
    """A second table joined onto the leads table (for exports split across files)."""

    path: str | None = None
    table: str | None = None
    on: str  # key in the leads table
    right_on: str | None = None  # key in the joined table (defaults to `on`)
    columns: list[str] | None = None  # columns to keep from the joined table (default: all)
    # Present-in-the-joined-table flag, e.g. olist's "closed deals" table marks won leads.
    indicator_column: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _yaml_on_key(cls, data: Any) -> Any:
        # YAML 1.1 reads an unquoted `on:` key as the boolean True; accept it rather than fail obscurely.
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if key is True else key): value for key, value in data.items()}
        return data


class LabelPolicy(_Params):
    """How won/lost/open statuses become a 0/1 label."""

    won_values: list[str] = ["won"]
    lost_values: list[str] = ["lost"]
    open_values: list[str] = ["open"]
    # Open leads younger than this (at the export's reference time) are left out: their outcome is unknown.
    maturity_days: int = Field(90, ge=0)
    old_open: Literal["lost", "drop"] = "lost"
    # drop_all: leads younger than maturity_days are left out whatever their status (young closed leads are
    # biased towards quick losses); drop_open: only young open leads are left out.
    immature: Literal["drop_all", "drop_open"] = "drop_all"
    # Reference time for maturity; default: the pull time (for the simulator, its own export time).
    reference_time: str | None = None


class Mapping(_Params):
    """Export columns -> canonical roles (see leadscore.core.canonical). Unmapped roles are simply absent."""

    lead_id: str = "lead_id"
    created_at: str | None = "created_at"
    # Wide exports without timestamps may order leads by a sequence column instead (e.g. a lead number).
    order_by: str | None = None
    # True when a larger order_by value means an older lead (e.g. numbers counting down).
    order_descending: bool = False
    closed_at: str | None = "closed_at"
    status: str = "status"
    first_contact_at: str | None = None
    firmographic: dict[str, str] = Field(default_factory=dict)  # role -> export column
    bant: dict[str, str] = Field(default_factory=dict)
    lead_source: str | None = None
    extra_categorical: list[str] = Field(default_factory=list)
    extra_numeric: list[str] = Field(default_factory=list)
    # Export values that mean "not filled in" (X Education uses "Select").
    missing_values: list[str] = Field(default_factory=list)
    pii: list[str] = Field(default_factory=lambda: ["contact_name", "email", "phone"])
    # Columns the leakage detector may flag but the owner vouches for: they stay features (a warning only).
    # Export names, canonical names (xcat_tags) or activity types (activity:<type>).
    allow_leaky: list[str] = Field(default_factory=list)
    true_p: str | None = None
    joins: list[JoinSpec] = Field(default_factory=list)
    activities: ActivityMapping | None = None


class FileSource(_Params):
    """CSV or Parquet export."""

    leads: str
    csv_separator: str = ","


class SqlSource(_Params):
    """A SQL database through SQLAlchemy (SQLite tested, PostgreSQL supported)."""

    url: str
    leads_table: str | None = None
    leads_query: str | None = None

    @model_validator(mode="after")
    def _one_of_table_or_query(self) -> SqlSource:
        if (self.leads_table is None) == (self.leads_query is None):
            raise ValueError("set exactly one of leads_table or leads_query")
        return self


class SourceParams(_Params):
    """Where the `pull` stage reads the CRM export from."""

    kind: Literal["simulator", "files", "sql"] = "simulator"
    files: FileSource | None = None
    sql: SqlSource | None = None
    mapping: Mapping = Mapping()
    label: LabelPolicy = LabelPolicy()

    @model_validator(mode="after")
    def _section_for_kind(self) -> SourceParams:
        if self.kind == "files" and self.files is None:
            raise ValueError("source.kind is 'files' but source.files is not set")
        if self.kind == "sql" and self.sql is None:
            raise ValueError("source.kind is 'sql' but source.sql is not set")
        return self


class LeakageParams(_Params):
    """Thresholds of the leakage detector."""

    enabled: bool = True
    # What a blocking suspect (one not listed in source.mapping.allow_leaky) does: "exclude" drops it from the
    # features and records it (reports/validation/summary.json ``excluded_columns``, the metrics, MLflow), so
    # a leaky export still trains an honest model; "stop" fails the gate naming the suspects.
    action: Literal["exclude", "stop"] = "exclude"
    max_single_column_auc: float = Field(0.85, gt=0.5, le=1.0)
    # A column filled (non-missing) for one outcome and not the other: |fill rate(won) - fill rate(lost)|.
    max_fill_rate_gap: float = Field(0.5, gt=0.0, le=1.0)
    # Filled more often for one outcome AND predictive: together the signature of a field sales fill in
    # after contact (X Education's "Lead Quality": gap 0.37, AUC 0.80); honest fields show one or the other.
    partial_fill_gap: float = Field(0.25, gt=0.0, le=1.0)
    partial_fill_auc: float = Field(0.75, gt=0.5, le=1.0)
    # Filled rows (or missing rows) that are almost all one outcome: presence alone encodes the label (Olist).
    exclusive_fill_purity: float = Field(0.99, gt=0.5, le=1.0)
    # Activity types with this share of events at/after closed_at (or on won leads only) are post-outcome.
    post_outcome_share: float = Field(0.9, gt=0.5, le=1.0)
    # Post-outcome types are only a warning (the as-of filter drops them) unless more of their events than
    # this fall before as_of, where they would reach the features.
    max_post_outcome_before_as_of: float = Field(0.01, ge=0.0, le=1.0)
    cv_folds: int = Field(5, ge=2, le=20)  # out-of-fold target encoding of categorical columns


class ValidateParams(_Params):
    """The validation gate before training."""

    min_rows: int = Field(500, ge=1)
    min_conversions: int = Field(50, ge=1)
    min_non_conversions: int = Field(50, ge=1)
    max_missing_rate: float = Field(0.95, ge=0.0, le=1.0)
    numeric_ranges: dict[str, tuple[float | None, float | None]] = Field(default_factory=dict)
    category_sets: dict[str, list[str]] = Field(default_factory=dict)
    # Share of leads allowed to close before they were created (Olist has 2 such deals in 842).
    max_closed_before_created_rate: float = Field(0.0, ge=0.0, le=0.1)
    # Share of the export's leads allowed to be created after a pinned source.label.reference_time (the moment
    # the export was taken): up to it they are left out and reported; above it validate stops, as it does for
    # any lead dated after the pull when no reference time is pinned.
    max_created_after_reference_rate: float = Field(0.0, ge=0.0, le=0.1)
    leakage: LeakageParams = LeakageParams()


class FeatureParams(_Params):
    """Feature engineering."""

    intent_windows_days: list[int] = [7, 30, 90]
    decay_half_life_days: float = Field(14.0, gt=0)
    # Activity types with fewer events than this in training are pooled into "other".
    min_activity_type_count: int = Field(50, ge=1)
    max_categories: int = Field(50, ge=2)
    min_category_count: int = Field(20, ge=1)


class SplitParams(_Params):
    """Out-of-time split by creation time (or order_by)."""

    validation_fraction: float = Field(0.15, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.15, gt=0.0, lt=0.5)
    # Embargo on outcomes (features/split.py apply_label_cutoff): train keeps only leads closed before the
    # validation period starts, validation only leads closed before the test period starts. Off by default:
    # on the simulator the kept validation leads are the quick closers (base rate 0.11 vs 0.18) and the
    # calibration anchored on them misses the ECE target (test ECE 0.055; 0.022 with calibrate.prior history).
    label_cutoff: bool = False


class TuneParams(_Params):
    """Optional optuna search on the validation period."""

    enabled: bool = False
    time_budget_seconds: int = Field(120, ge=1)
    n_trials: int = Field(50, ge=1)


class ColdStartParams(_Params):
    """Below these counts the pipeline trains a simpler, regularised model (or stops)."""

    min_rows: int = Field(1000, ge=1)
    min_conversions_per_class: int = Field(120, ge=1)
    action: Literal["simple_model", "stop"] = "simple_model"


class TrainParams(_Params):
    """LightGBM training."""

    num_leaves: int = Field(15, ge=2)
    max_depth: int = -1
    learning_rate: float = Field(0.05, gt=0)
    n_estimators: int = Field(600, ge=1)
    early_stopping_rounds: int = Field(50, ge=1)
    min_child_samples: int = Field(50, ge=1)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    bagging_freq: int = Field(1, ge=0)
    lambda_l2: float = Field(1.0, ge=0)
    # "balanced" up-weights conversions during fitting; calibration then restores true probabilities.
    class_weight: Literal["none", "balanced", "sqrt"] = "sqrt"
    num_threads: int = Field(2, ge=1)
    # Training rows given exact TreeSHAP (~1k rows/s) to build the fast reason lookup tables.
    reason_sample_rows: int = Field(4000, ge=100)
    # Serve a booster refit on training + validation (the early-stopped number of trees), calibrated on
    # out-of-fold validation margins (models/refit.py); false serves the training-period booster. Off by
    # default: over 8 seeds it adds 0.004 AUC on X Education and Olist but worsens their mean ECE
    # (X Education 0.036 vs 0.028; README, "Refit").
    refit: bool = False
    # Boosters trained with base.seed and seeds drawn from it, averaged (one merged booster,
    # models/booster_ensemble.py): removes the seed's say in the model. Costs that many times the training,
    # scoring and reason-table time; worth it where the validation period is small (the real-export configs).
    ensemble_size: int = Field(1, ge=1, le=20)
    tune: TuneParams = TuneParams()
    cold_start: ColdStartParams = ColdStartParams()


class CalibrateParams(_Params):
    """Calibration on the validation period."""

    # spline: smooth monotone map (models/spline_map.py); isotonic (a step function: ties, noisy tails) is
    # available but not a default candidate; constant: the null model (the base rate for every lead), chosen
    # only when no map of the score beats it.
    methods: list[Literal["spline", "sigmoid", "isotonic", "constant"]] = ["spline", "sigmoid", "constant"]
    spline_knots: int = Field(6, ge=3)  # at quantiles of the validation margins
    cv_folds: int = Field(5, ge=2)
    # Base rate the probabilities are anchored to (models/base_rate.py): the validation period's, all
    # labelled history's (prior shift of the calibrator), or (auto) the mix of the two that forecasts the next
    # period's rate best, forward-chained over training + validation.
    prior: Literal["validation", "history", "auto"] = "auto"


class BandParams(_Params):
    """Score bands and qualification thresholds, on calibrated probability so they do not shift."""

    # Share of the reference (test-period) leads in each band, best first: A is the top 10 %.
    band_shares: dict[str, float] = {"A": 0.10, "B": 0.20, "C": 0.30, "D": 0.40}
    mql_band: str = "B"  # leads in this band or better are MQL
    sql_band: str = "A"  # leads in this band are SQL


class EvaluateParams(_Params):
    """Quality gate: evaluate fails (and nothing is registered) when these are missed."""

    min_auc: float = Field(0.6, ge=0.0, le=1.0)
    max_ece: float = Field(0.05, ge=0.0, le=1.0)
    n_bins: int = Field(10, ge=2)
    top_reasons: int = Field(3, ge=1, le=10)
    # ECE and the reliability plot use equal-count bins by default: lead scores crowd near the base rate,
    # which leaves most equal-width bins nearly empty (see leadscore.monitoring.calibration).
    calibration_bins: Literal["uniform", "quantile"] = "quantile"
    bootstrap_samples: int = Field(200, ge=0)  # resamples for the AUC confidence interval (0 = none)


class RegistryParams(_Params):
    """MLflow tracking and registry."""

    tracking_uri: str = DEFAULT_TRACKING_URI
    artifact_location: str = "mlruns/artifacts"
    experiment: str = "leadscore"
    model_name: str = DEFAULT_MODEL_NAME
    # The champion moves only if the new model, scored with the champion on the same (new) test leads, is at
    # least as good: AUC >= champion AUC - tolerance, or Brier / log loss <= champion's + tolerance.
    promote_metric: Literal["auc", "brier", "log_loss"] = "auc"
    tolerance: float = Field(0.0, ge=0.0)


class ReportParams(_Params):
    """The quarterly RevOps report produced by the main job."""

    min_segment_count: int = Field(100, ge=1)
    bootstrap_samples: int = Field(200, ge=0)
    # Outcomes of leads created less than this many days before the report are not final: those leads get
    # label-free (CBPE) estimates instead of realized metrics (complaint 4: label delay).
    maturity_days: int = Field(90, ge=0)
    quarters_shown: int = Field(4, ge=1, le=20)  # cohorts in the estimate-vs-realized table
    segment_columns: list[str] = ["industry", "lead_source", "region", "size_band"]
    # Recommendation rules; each recommendation quotes the rule that produced it.
    min_auc: float = Field(0.70, ge=0.5, le=1.0)  # retrain below this realized AUC
    max_auc_drop: float = Field(0.05, ge=0.0, le=0.5)  # retrain when realized AUC is this far below reference
    min_top_decile_lift: float = Field(1.5, ge=1.0)
    max_calibration_in_the_large: float = Field(0.03, ge=0.0, le=1.0)  # recalibrate beyond +- this
    calibration_slope_range: tuple[float, float] = (0.8, 1.2)  # recalibrate outside
    psi_watch: float = Field(0.25, gt=0.0)  # PSI "act" threshold for score and segment drift
    # The report stage: which quarter (None = the latest with at least min_segment_count leads), which leads
    # are "production" (out-of-time for the model) and which period is the drift baseline.
    quarter: str | None = None
    splits: list[str] = ["test"]
    reference_splits: list[str] = ["validation"]


class Params(_Params):
    """The whole of params.yaml."""

    base: BaseParams = BaseParams()
    simulate: SimulateParams = SimulateParams()
    source: SourceParams = SourceParams()
    validate_: ValidateParams = Field(ValidateParams(), alias="validate")
    features: FeatureParams = FeatureParams()
    split: SplitParams = SplitParams()
    train: TrainParams = TrainParams()
    calibrate: CalibrateParams = CalibrateParams()
    bands: BandParams = BandParams()
    evaluate: EvaluateParams = EvaluateParams()
    registry: RegistryParams = RegistryParams()
    report: ReportParams = ReportParams()

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def parse_params(raw: dict[str, Any]) -> Params:
    """Validate a params mapping, turning pydantic's report into one ConfigError line per problem."""
    try:
        return Params.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise ConfigError(f"invalid params: {problems}") from None


def with_overrides(params: Params, overrides: dict[str, Any]) -> Params:
    """``params`` with dotted keys set (``{"train.refit": True}``), validated like a params file.

    What ``dvc exp run -S`` does to params.yaml, for tools that run the pipeline in-process (the quality
    benchmark's ``--set``). An unknown key is a ConfigError naming it.
    """
    raw = params.model_dump(by_alias=True, mode="json")
    for key, value in overrides.items():
        node = raw
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                raise ConfigError(f"unknown params key {key!r}")
            node = child
        if leaf not in node:
            raise ConfigError(f"unknown params key {key!r}")
        node[leaf] = value
    return parse_params(raw)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml (only entry points call this)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"params file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"params file {path} is not valid YAML: {exc}") from None
    return parse_params(raw)
