"""Shared test data of the model area: small simulated CRMs in canonical form and one trained bundle.

The data comes from the real simulator and the real pull mapping (no hand-written fakes), so the tests see
what the pipeline sees. Training is cached per process: several test modules share one small bundle.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pandas as pd

from leadscore.core.params import ActivityMapping, LabelPolicy, Mapping, Params, SimulateParams, TrainParams
from leadscore.crm.mapping import map_activities, map_leads
from leadscore.crm.simulator import simulate_crm
from leadscore.features.dataset import FeatureDataset, featurize
from leadscore.models.bundle import ScoringBundle
from leadscore.models.fit import FitResult, fit_scoring_bundle

SEED = 11
OFFSET_DAYS = 14
SIM_MAPPING = Mapping(
    firmographic={r: r for r in ("industry", "employees", "annual_revenue", "country", "founded_year")},
    bant={r: r for r in ("budget_status", "contact_title", "need", "purchase_timeframe")},
    lead_source="lead_source",
    true_p="true_p",
    activities=ActivityMapping(),
)
PARAMS = Params()
# One thread: the suite runs next to other work on 2 cores, where OpenMP threads mostly wait for each other.
FAST_TRAIN: TrainParams = PARAMS.train.model_copy(update={"num_threads": 1, "reason_sample_rows": 600})


@dataclass(frozen=True)
class CanonicalCrm:
    """A simulated export after the pull stage's mapping (what data/interim holds)."""

    leads: pd.DataFrame
    activities: pd.DataFrame


@functools.cache
def canonical_crm(n_leads: int = 3000, seed: int = SEED, days: int = 730) -> CanonicalCrm:
    """Simulate ``n_leads`` leads and map them like the pull stage does (labelled, no PII)."""
    export = simulate_crm(
        SimulateParams(n_leads=n_leads, days=days), seed=seed, as_of_offset_days=OFFSET_DAYS
    )
    leads = map_leads(export.leads, SIM_MAPPING, LabelPolicy()).leads
    activities, _ = map_activities(export.activities, ActivityMapping())
    known = set(leads["lead_id"])
    activities = activities.loc[activities["lead_id"].isin(known)].reset_index(drop=True)
    return CanonicalCrm(leads.reset_index(drop=True), activities)


@functools.cache
def small_dataset() -> FeatureDataset:
    """Feature frame + spec of the default small CRM."""
    crm = canonical_crm()
    return featurize(crm.leads, crm.activities, PARAMS.features, PARAMS.split, OFFSET_DAYS)


def fit_small(dataset: FeatureDataset, train: TrainParams = FAST_TRAIN) -> FitResult:
    """Train a bundle on a feature data set with the test settings."""
    return fit_scoring_bundle(
        dataset.frame,
        dataset.spec,
        features=PARAMS.features,
        train=train,
        calibrate=PARAMS.calibrate,
        bands=PARAMS.bands,
        seed=SEED,
        provenance={"git_sha": "test", "params_hash": "test", "data_hash": "test"},
    )


@functools.cache
def small_fit() -> FitResult:
    """The shared small bundle (trained once per test process)."""
    return fit_small(small_dataset())


def small_bundle() -> ScoringBundle:
    """The shared small bundle."""
    return small_fit().bundle


def period_of(dataset: FeatureDataset, crm: CanonicalCrm) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical leads and activities of the test period."""
    ids = set(dataset.frame.loc[dataset.frame["split"] == "test", "lead_id"])
    leads = crm.leads.loc[crm.leads["lead_id"].isin(ids)].reset_index(drop=True)
    activities = crm.activities.loc[crm.activities["lead_id"].isin(ids)].reset_index(drop=True)
    return leads, activities
