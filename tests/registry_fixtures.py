"""Fixtures of the registry and batch tests: real bundles trained on a simulated CRM, real MLflow stores.

Three bundles of known quality are trained once per session on the same ~2,200 labelled simulated leads:

* ``good``: every feature, activities included;
* ``mid``: no activity log and no ``industry`` column (it cannot see intent, and it does not need industry,
  so a champion that needs industry cannot score leads prepared for it);
* ``bad``: the good feature frame with labels shuffled (a model of noise).

Creating an MLflow SQLite store runs ~50 schema migrations (seconds), so one empty store is made per session
and each test gets a copy of that file: still a real store, just not re-migrated every time.
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.core.params import (
    ActivityMapping,
    LabelPolicy,
    Mapping,
    Params,
    RegistryParams,
    SimulateParams,
)
from leadscore.crm.mapping import map_activities, map_leads
from leadscore.crm.simulator import SimulatedExport, simulate_crm
from leadscore.features.dataset import featurize
from leadscore.models.fit import fit_with_params

SEED = 7
OFFSET_DAYS = 14
# The simulator's export uses canonical names: the mapping is the identity on every role.
SIM_MAPPING = Mapping(
    first_contact_at="first_contact_at",
    firmographic={
        role: role for role in ("industry", "employees", "annual_revenue", "country", "founded_year")
    },
    bant={role: role for role in ("budget_status", "contact_title", "need", "purchase_timeframe")},
    lead_source="lead_source",
    true_p="true_p",
    activities=ActivityMapping(),
)
SIM_LABEL = LabelPolicy()


@dataclass(frozen=True)
class TinyWorld:
    """A simulated export, its canonical form, the out-of-time test period and three trained bundles."""

    export: SimulatedExport
    leads: pd.DataFrame  # canonical, labelled (what data/interim holds)
    activities: pd.DataFrame
    frame: pd.DataFrame  # feature frame with the split column (what data/processed holds)
    test_leads: pd.DataFrame
    test_activities: pd.DataFrame
    bundles: dict[str, Path]  # good / mid / bad bundle directories


def _fit(frame: pd.DataFrame, spec: object, params: Params, out: Path) -> Path:
    provenance = {
        "git_sha": "test-sha",
        "params_hash": "test-params",
        "data_hash": "test-data",
        # What the train stage records so that `leadscore score` can map an export without a params file.
        "mapping": SIM_MAPPING.model_dump(mode="json"),
        "label_policy": SIM_LABEL.model_dump(mode="json"),
    }
    fitted = fit_with_params(frame, spec, params, provenance)  # type: ignore[arg-type]
    fitted.bundle.save(out)
    return out


# Test modules import the fixtures below, which makes each module's copy a fixture of its own: the builders
# are cached on the session's base temporary directory so that the work is still done once per session.
@functools.cache
def _build_tiny_world(basetemp: Path) -> TinyWorld:
    root = basetemp / "registry_tiny_world"
    params = Params()
    export = simulate_crm(SimulateParams(n_leads=2500, days=730), seed=SEED, as_of_offset_days=OFFSET_DAYS)
    leads = map_leads(export.leads, SIM_MAPPING, SIM_LABEL).leads
    activities, _ = map_activities(export.activities, ActivityMapping())
    full = featurize(leads, activities, params.features, params.split, OFFSET_DAYS)
    mid = featurize(leads.drop(columns=["industry"]), None, params.features, params.split, OFFSET_DAYS)
    shuffled = full.frame.copy()
    shuffled["label"] = np.random.default_rng(SEED).permutation(shuffled["label"].to_numpy())
    bundles = {
        "good": _fit(full.frame, full.spec, params, root / "good"),
        "mid": _fit(mid.frame, mid.spec, params, root / "mid"),
        "bad": _fit(shuffled, full.spec, params, root / "bad"),
    }
    test_ids = full.frame.loc[full.frame["split"] == "test", "lead_id"]
    test_leads = leads.loc[leads["lead_id"].isin(test_ids)].reset_index(drop=True)
    test_activities = activities.loc[activities["lead_id"].isin(test_ids)].reset_index(drop=True)
    return TinyWorld(export, leads, activities, full.frame, test_leads, test_activities, bundles)


@functools.cache
def _build_mlflow_template(basetemp: Path) -> Path:
    from mlflow import MlflowClient

    (basetemp / "registry_mlflow_template").mkdir()
    db = basetemp / "registry_mlflow_template" / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


# Registered under the short names (pytest finds fixtures by `name`), so tests ask for `tiny_world`.
@pytest.fixture(scope="session", name="tiny_world")
def tiny_world_fixture(tmp_path_factory: pytest.TempPathFactory) -> TinyWorld:
    """Simulate, map, featurise and train the good / mid / bad bundles (a few seconds on 2 cores)."""
    return _build_tiny_world(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session", name="mlflow_template")
def mlflow_template_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, fully migrated MLflow SQLite store, made once per session."""
    return _build_mlflow_template(tmp_path_factory.getbasetemp())


def fresh_store(template: Path, directory: Path, **overrides: object) -> RegistryParams:
    """A new store in ``directory`` (a copy of the migrated template) and RegistryParams pointing at it."""
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "mlflow.db"
    shutil.copyfile(template, db)
    return RegistryParams(
        tracking_uri=f"sqlite:///{db}", artifact_location=str(directory / "artifacts"), **overrides
    )
