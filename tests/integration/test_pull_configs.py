"""The real-export configs load and map to labelled canonical frames with the documented base rates."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadscore import schema
from leadscore.crm.mapping import map_leads
from leadscore.crm.sources import read_export
from leadscore.params import load_params

REPO = Path(__file__).resolve().parents[2]
DATASETS = REPO.parent / "shared" / "datasets"

# config -> (rows after the label policy, base rate, leaky extra columns that must reach validation)
EXPECTED = {
    "x_education": (9240, 0.3854, ["xcat_tags", "xcat_lead_quality"]),
    "olist": (8000, 0.1053, ["xcat_business_segment", "xnum_declared_monthly_revenue"]),
    "maven": (6711, 0.6315, ["xnum_close_value"]),
}


@pytest.mark.skipif(not DATASETS.is_dir(), reason=f"real datasets not present at {DATASETS}")
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_maps_its_export_to_labels_with_the_documented_base_rate(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # config paths are relative to the repo root
    params = load_params(REPO / "configs" / f"{name}.yaml")
    raw_leads, raw_activities = read_export(params.source, params.simulate, 0, params.base.as_of_offset_days)
    mapped = map_leads(raw_leads, params.source.mapping, params.source.label)
    leads = mapped.leads
    rows, base_rate, leaky = EXPECTED[name]
    assert len(leads) == rows
    assert leads[schema.LABEL].mean() == pytest.approx(base_rate, abs=0.001)
    assert set(leads[schema.OUTCOME]) <= {schema.OUTCOME_WON, schema.OUTCOME_LOST}
    assert leads[schema.LEAD_ID].is_unique
    assert leads[schema.CREATED_AT].notna().all()
    assert mapped.report.parse_failures == {}
    assert set(leaky) <= set(leads.columns)  # mapped on purpose: the leakage detector must flag them
    assert len(raw_activities) == 0


@pytest.mark.skipif(not DATASETS.is_dir(), reason=f"real datasets not present at {DATASETS}")
def test_pull_stage_runs_on_a_real_export_without_activities(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    from pipelines.pull import pull

    monkeypatch.chdir(REPO)
    summary = pull(load_params(REPO / "configs" / "olist.yaml"), out_dir=tmp_path)
    assert summary["label_counts"] == {"0": 7158, "1": 842}
    assert len(pd.read_parquet(tmp_path / "activities.parquet")) == 0
    assert pd.read_parquet(tmp_path / "leads.parquet")[schema.CREATED_AT].dtype.kind == "M"


def test_configs_differ_from_params_yaml_only_in_the_source_section() -> None:
    import yaml

    reference = yaml.safe_load((REPO / "params.yaml").read_text())
    for name in EXPECTED:
        config = yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())
        assert config.pop("source") != reference["source"]
        assert set(config) == set(reference) - {"source"}, name
