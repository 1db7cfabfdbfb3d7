"""A bare export: extra pass-through columns, no activity log, some roles missing."""

import numpy as np

from leadscore.features.dataset import featurize
from tests.model_fixtures import OFFSET_DAYS, PARAMS, canonical_crm, fit_small


def test_extras_pass_through_and_the_model_scores_without_activities() -> None:
    crm = canonical_crm()
    rng = np.random.default_rng(0)
    leads = crm.leads.drop(columns=["industry", "contact_title", "need"]).copy()
    # A numeric extra that carries signal and a categorical extra with a rare level.
    leads["xnum_web_visits"] = rng.poisson(2 + 3 * leads["label"].to_numpy())
    leads["xcat_plan"] = rng.choice(
        ["free", "pro", "team", "legacy"], size=len(leads), p=[0.5, 0.3, 0.195, 0.005]
    )
    dataset = featurize(leads, None, PARAMS.features, PARAMS.split, OFFSET_DAYS)
    spec = dataset.spec
    assert {"extra_web_visits", "extra_plan"} <= set(spec.feature_names)
    assert not spec.intent_feature_names
    assert "firmo_industry" not in spec.feature_names
    assert "bant_authority" not in spec.feature_names
    bundle = fit_small(dataset).bundle
    assert "legacy" not in bundle.transformer.vocabularies_["extra_plan"]  # rare -> other
    test = leads.loc[dataset.frame["split"].to_numpy() == "test"].head(200)
    scored = bundle.score(test)
    assert scored.to_dict("records") == bundle.score_records(test.to_dict("records"))
    reasons = [r for rs in scored["reasons_positive"] for r in rs]
    visit_reasons = [r for r in reasons if r["feature"] == "extra_web_visits"]
    assert visit_reasons
    assert visit_reasons[0]["label"].startswith("Web visits")
    high = bundle.score(test.assign(xnum_web_visits=12))["probability"]
    low = bundle.score(test.assign(xnum_web_visits=0))["probability"]
    assert (high.to_numpy() >= low.to_numpy()).mean() > 0.9
