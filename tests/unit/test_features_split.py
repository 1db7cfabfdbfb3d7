"""Out-of-time split and its optional label cutoff (split.label_cutoff)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.core import canonical
from leadscore.core.params import SplitParams
from leadscore.features.columns import NAT
from leadscore.features.dataset import SPLIT_COLUMN, featurize
from leadscore.features.split import TEST, TRAIN, VALIDATION, apply_label_cutoff
from tests.model_fixtures import OFFSET_DAYS, PARAMS, canonical_crm

DAY = 86_400 * 10**9


def test_label_cutoff_drops_train_and_validation_outcomes_known_only_later() -> None:
    labels = np.array([TRAIN, TRAIN, TRAIN, VALIDATION, VALIDATION, TEST, TEST], dtype=object)
    created = np.array([0, 1, 2, 10, 11, 20, 21]) * DAY
    closed = np.array([5, 10, 40, 19, 20, 60, 80]) * DAY
    closed[0] = NAT  # an old open lead labelled lost by age: kept
    keep = apply_label_cutoff(labels, created, closed, NAT)
    # train rows closed on/after day 10 (validation start) go, validation rows closed on/after day 20 go,
    # test rows stay whatever their close.
    assert keep.tolist() == [True, False, False, True, False, True, True]
    assert apply_label_cutoff(labels, created, None, NAT).all()


def test_featurize_applies_the_cutoff_only_when_asked() -> None:
    crm = canonical_crm(n_leads=800, seed=11)
    plain = featurize(crm.leads, crm.activities, PARAMS.features, SplitParams(), OFFSET_DAYS).frame
    cut = featurize(
        crm.leads, crm.activities, PARAMS.features, SplitParams(label_cutoff=True), OFFSET_DAYS
    ).frame
    assert len(plain) == len(crm.leads)
    closed = crm.leads.set_index(canonical.LEAD_ID)[canonical.CLOSED_AT]
    starts = {
        p: pd.Timestamp(plain.loc[plain[SPLIT_COLUMN] == p, canonical.CREATED_AT].min())
        for p in (VALIDATION, TEST)
    }
    for period, next_period in ((TRAIN, VALIDATION), (VALIDATION, TEST)):
        before = plain.loc[plain[SPLIT_COLUMN] == period, canonical.LEAD_ID]
        late = before[closed.loc[before].to_numpy() >= starts[next_period]]
        assert len(late) > 0  # the fixture has slow deals, so the test can fail
        after = cut.loc[cut[SPLIT_COLUMN] == period, canonical.LEAD_ID]
        assert set(after) == set(before) - set(late)
    # Test rows are graded on every outcome, so the cutoff leaves them alone.
    pd.testing.assert_frame_equal(
        plain[plain[SPLIT_COLUMN] == TEST].reset_index(drop=True),
        cut[cut[SPLIT_COLUMN] == TEST].reset_index(drop=True),
    )
