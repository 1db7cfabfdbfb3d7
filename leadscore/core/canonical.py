"""Canonical column names shared by every stage.

The `pull` stage maps any CRM export onto these names, so that validation, features, training, the batch
command and the API never see export-specific column names. Keeping the contract in one module is what lets
the pipeline stay "config only" for new exports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# --- leads table (data/interim/leads.parquet) -------------------------------------------------------------
LEAD_ID = "lead_id"
CREATED_AT = "created_at"
CLOSED_AT = "closed_at"
STATUS = "status"  # raw status value from the export, kept for auditing
OUTCOME = "outcome"  # normalised: one of OUTCOME_VALUES
LABEL = "label"  # 1 won, 0 lost; immature open leads are removed by the label policy
TRUE_P = "true_p"  # simulator only: the Bayes probability; never a feature
FIRST_CONTACT_AT = "first_contact_at"  # optional: first sales touch, for response-time KPIs only

OUTCOME_WON = "won"
OUTCOME_LOST = "lost"
OUTCOME_OPEN = "open"
OUTCOME_VALUES = (OUTCOME_WON, OUTCOME_LOST, OUTCOME_OPEN)

# Firmographic roles
INDUSTRY = "industry"
EMPLOYEES = "employees"
ANNUAL_REVENUE = "annual_revenue"
COUNTRY = "country"
FOUNDED_YEAR = "founded_year"
# BANT roles
BUDGET = "budget_status"
CONTACT_TITLE = "contact_title"  # free text, parsed into an authority level
NEED = "need"
TIMELINE = "purchase_timeframe"
# Acquisition
LEAD_SOURCE = "lead_source"

FIRMOGRAPHIC_ROLES = (INDUSTRY, EMPLOYEES, ANNUAL_REVENUE, COUNTRY, FOUNDED_YEAR)
BANT_ROLES = (BUDGET, CONTACT_TITLE, NEED, TIMELINE)
ROLE_COLUMNS = (*FIRMOGRAPHIC_ROLES, *BANT_ROLES, LEAD_SOURCE)
NUMERIC_ROLES = (EMPLOYEES, ANNUAL_REVENUE, FOUNDED_YEAR)
# Plausible values of the numeric roles, (low, high) inclusive, None = unbounded. One table for the training
# gate (leadscore.validation.expectations, which also caps founded_year at the current year), the batch
# command's warnings and the API's request schema, so a value the gate would reject is never scored silently.
NUMERIC_RANGES: dict[str, tuple[float | None, float | None]] = {
    EMPLOYEES: (0, None),
    ANNUAL_REVENUE: (0, None),
    FOUNDED_YEAR: (1800, 2100),
}

# Extra export columns passed through by the mapping keep their (sanitised) name behind these prefixes.
EXTRA_CATEGORICAL_PREFIX = "xcat_"
EXTRA_NUMERIC_PREFIX = "xnum_"


def sanitise_name(name: str) -> str:
    """Turn an export column name into a safe suffix: lower case, non-alphanumerics -> ``_``.

    ``"Total Time Spent on Website"`` -> ``"total_time_spent_on_website"``.
    """
    cleaned = re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower()
    return cleaned or "column"


def extra_column_names(categorical: Iterable[str], numeric: Iterable[str]) -> dict[str, str]:
    """Export column -> canonical extra column name (``xcat_``/``xnum_`` + sanitised name)."""
    names = {column: EXTRA_CATEGORICAL_PREFIX + sanitise_name(column) for column in categorical}
    names.update({column: EXTRA_NUMERIC_PREFIX + sanitise_name(column) for column in numeric})
    return names


# Columns that exist only because the outcome is known. They must never reach the model.
OUTCOME_ONLY_COLUMNS = (CLOSED_AT, STATUS, OUTCOME, LABEL, TRUE_P)

# --- activities table (data/interim/activities.parquet) ---------------------------------------------------
ACTIVITY_LEAD_ID = "lead_id"
ACTIVITY_AT = "occurred_at"
ACTIVITY_TYPE = "activity_type"

# PII never leaves `pull`: these canonical names are dropped (or hashed when configured) before anything
# is written.
PII_COLUMNS = ("contact_name", "email", "phone")
