"""The leakage trap: intent built without the point-in-time filter beats the Bayes limit; ours stays below.

The simulated CRM knows the Bayes probability of each lead at its scoring moment. Sales-stage and post-sale
activity happen after that moment and are far more common for won deals, so a model that counts them (as_of
far in the future) "beats" the best possible model on held-out leads: the signature of leakage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from leadscore.features.dataset import FeatureDataset, featurize
from leadscore.features.transform import FeatureTransformer
from leadscore.models.train import Periods, train_model
from tests.model_fixtures import FAST_TRAIN, OFFSET_DAYS, PARAMS, SEED, canonical_crm

FAR_FUTURE = pd.Timestamp("2100-01-01")


def _test_auc(dataset: FeatureDataset) -> tuple[float, float]:
    frame, spec = dataset.frame, dataset.spec
    split = frame["split"].to_numpy()
    transformer = FeatureTransformer(spec.categorical_features).fit(
        frame.loc[split == "train", spec.feature_names]
    )
    X = transformer.transform(frame[spec.feature_names])
    y = frame["label"].to_numpy()
    tr, va, te = split == "train", split == "validation", split == "test"
    periods = Periods(X[tr], y[tr], X[va], y[va], spec.feature_names, transformer.categorical_indices_)
    result = train_model(periods, FAST_TRAIN, SEED)
    model_auc = roc_auc_score(y[te], result.booster.predict(X[te]))
    bayes_auc = roc_auc_score(y[te], frame.loc[te, "true_p"])
    return float(model_auc), float(bayes_auc)


def test_leaky_intent_beats_the_bayes_auc_while_point_in_time_intent_does_not() -> None:
    crm = canonical_crm(n_leads=16_000, seed=SEED, days=1095)
    honest = featurize(crm.leads, crm.activities, PARAMS.features, PARAMS.split, OFFSET_DAYS)
    leaky = featurize(crm.leads, crm.activities, PARAMS.features, PARAMS.split, OFFSET_DAYS, as_of=FAR_FUTURE)
    honest_auc, bayes_auc = _test_auc(honest)
    leaky_auc, bayes_again = _test_auc(leaky)
    assert bayes_again == bayes_auc
    assert honest_auc < bayes_auc, (honest_auc, bayes_auc)
    assert honest_auc > bayes_auc - 0.03, (honest_auc, bayes_auc)  # and it is close to the limit
    assert leaky_auc > bayes_auc + 0.02, (leaky_auc, bayes_auc)
    # The leak comes in through activity types that only exist after the scoring moment.
    assert {"contract_signed", "proposal_viewed"} <= set(leaky.spec.activity_types)
    assert np.isin(["contract_signed", "proposal_viewed"], honest.spec.activity_types).sum() == 0
