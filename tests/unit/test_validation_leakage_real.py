"""The leakage detector on the three public exports whose leaky columns are documented (PROVENANCE.md).

Each export is canonicalised here with an inline mapping through the real pull mapping
(leadscore.crm.mapping), so the detector sees exactly what the gate would. Skipped when the datasets are not
on this machine (set LEADSCORE_DATASETS_DIR to point at them).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from leadscore.crm.mapping import apply_joins, map_leads
from leadscore.params import JoinSpec, LabelPolicy, LeakageParams, Mapping
from leadscore.validation.leakage import detect_leakage

DATASETS = Path(os.environ.get("LEADSCORE_DATASETS_DIR", "/work/shared/datasets"))
pytestmark = pytest.mark.skipif(
    not (DATASETS / "x_education_leads" / "Leads.csv").exists(),
    reason=f"public lead datasets not found under {DATASETS} (set LEADSCORE_DATASETS_DIR)",
)


def _blocking(leads: pd.DataFrame) -> dict[str, str]:
    return {s.name: s.evidence for s in detect_leakage(leads, None, LeakageParams(), seed=42) if s.fails_gate}


def test_x_education_flags_tags_and_lead_quality_only() -> None:
    raw = pd.read_csv(DATASETS / "x_education_leads" / "Leads.csv")
    numeric = [
        "TotalVisits",
        "Total Time Spent on Website",
        "Page Views Per Visit",
        "Asymmetrique Activity Score",
        "Asymmetrique Profile Score",
    ]
    mapped = {"Prospect ID", "Lead Number", "Converted", "Country", "Lead Source"}
    mapping = Mapping(
        lead_id="Prospect ID",
        created_at=None,
        order_by="Lead Number",
        order_descending=True,
        closed_at=None,
        status="Converted",
        firmographic={"country": "Country"},
        lead_source="Lead Source",
        extra_categorical=[c for c in raw.columns if c not in mapped and c not in numeric],
        extra_numeric=numeric,
        missing_values=["Select"],
    )
    leads = map_leads(raw, mapping, LabelPolicy(won_values=["1"], lost_values=["0"], open_values=[])).leads
    blocking = _blocking(leads)
    assert set(blocking) == {"xcat_tags", "xcat_lead_quality"}, blocking
    assert "AUC 0.9" in blocking["xcat_tags"]


def test_maven_flags_close_value() -> None:
    folder = DATASETS / "maven_crm_sales_opportunities"
    raw = pd.read_csv(folder / "sales_pipeline.csv")
    raw = raw[raw["deal_stage"].isin(["Won", "Lost"])]  # the target is won among closed deals
    raw = apply_joins(raw, [pd.read_csv(folder / "accounts.csv")], [JoinSpec(on="account")])
    mapping = Mapping(
        lead_id="opportunity_id",
        created_at="engage_date",
        closed_at="close_date",
        status="deal_stage",
        firmographic={
            "industry": "sector",
            "employees": "employees",
            "annual_revenue": "revenue",
            "founded_year": "year_established",
            "country": "office_location",
        },
        extra_categorical=["product", "account"],
        extra_numeric=["close_value"],
    )
    policy = LabelPolicy(won_values=["Won"], lost_values=["Lost"], open_values=[], maturity_days=0)
    blocking = _blocking(map_leads(raw, mapping, policy).leads)
    assert set(blocking) == {"xnum_close_value"}, blocking
    assert "rank AUC of the value 1.000" in blocking["xnum_close_value"]


def test_olist_flags_every_closed_deal_column_and_keeps_the_mql_columns() -> None:
    folder = DATASETS / "olist_marketing_funnel"
    mql = pd.read_csv(folder / "olist_marketing_qualified_leads_dataset.csv")
    deals = pd.read_csv(folder / "olist_closed_deals_dataset.csv")
    raw = apply_joins(mql, [deals], [JoinSpec(on="mql_id", indicator_column="closed")])
    deal_columns = [c for c in deals.columns if c != "mql_id"]
    numeric = ["declared_monthly_revenue", "declared_product_catalog_size"]
    mapping = Mapping(
        lead_id="mql_id",
        created_at="first_contact_date",
        closed_at="won_date",
        status="closed",
        extra_categorical=["origin", "landing_page_id", *[c for c in deal_columns if c not in numeric]],
        extra_numeric=numeric,
    )
    policy = LabelPolicy(won_values=["1"], lost_values=["0"], open_values=[], maturity_days=0)
    blocking = _blocking(map_leads(raw, mapping, policy).leads)
    expected = {("xnum_" if c in numeric else "xcat_") + c for c in deal_columns}
    assert set(blocking) == expected, sorted(set(blocking) ^ expected)
    assert "at/after closed_at" in blocking["xcat_won_date"]
