import pytest

from leadscore.core import canonical
from leadscore.core.errors import LeakageError, SchemaError
from leadscore.features.spec import FeatureSpec, infer_spec

CANONICAL = ["lead_id", "created_at", *canonical.ROLE_COLUMNS, "xcat_plan", "xnum_visits"]


@pytest.mark.parametrize("column", [*canonical.OUTCOME_ONLY_COLUMNS, *canonical.PII_COLUMNS])
def test_outcome_only_and_pii_columns_can_never_be_features(column: str) -> None:
    with pytest.raises(LeakageError, match=column):
        FeatureSpec(roles=(column,))
    with pytest.raises(LeakageError, match=column):
        FeatureSpec(extra_categorical=(column,))


def test_inferred_spec_skips_outcome_columns_present_in_the_training_table() -> None:
    spec = infer_spec(
        [*CANONICAL, *canonical.OUTCOME_ONLY_COLUMNS, "first_contact_at"], activity_types=["demo_request"]
    )
    inputs = set(spec.input_columns)
    assert not inputs & set(canonical.OUTCOME_ONLY_COLUMNS)
    assert "first_contact_at" not in inputs
    assert not any(name in canonical.OUTCOME_ONLY_COLUMNS for name in spec.feature_names)


def test_feature_names_follow_the_family_prefixes() -> None:
    spec = infer_spec(CANONICAL, activity_types=["demo_request"], intent_windows_days=[30, 7])
    prefixes = ("firmo_", "bant_", "acq_", "intent_", "extra_")
    assert all(name.startswith(prefixes) for name in spec.feature_names)
    assert {"extra_plan", "extra_visits", "intent_demo_request_7d", "intent_other_30d"} <= set(
        spec.feature_names
    )
    assert spec.intent_windows_days == (7, 30)


def test_absent_roles_are_absent_from_the_spec() -> None:
    spec = infer_spec(["lead_id", "created_at", "industry", "budget_status"])
    assert spec.roles == ("industry", "budget_status")
    assert spec.feature_names == ["firmo_industry", "bant_budget"]


def test_without_creation_times_there_is_no_intent_and_no_company_age() -> None:
    spec = infer_spec(["lead_id", "founded_year"], activity_types=["demo_request"])
    assert spec.feature_names == ["firmo_founded_year"]


def test_spec_json_round_trip_is_identical() -> None:
    spec = infer_spec(CANONICAL, activity_types=["demo_request", "email_open"])
    assert FeatureSpec.from_json(spec.to_json()) == spec


def test_extra_columns_need_their_prefix() -> None:
    with pytest.raises(SchemaError, match="xcat_"):
        FeatureSpec(extra_categorical=("plan",))
