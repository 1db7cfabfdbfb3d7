"""The one-lead fast path gives the batch path's numbers: single-row LightGBM, per-lead scoring, logging.

``score_records`` on one lead takes shortcuts that ``score`` on a DataFrame never does (LightGBM's fast
single-row predictor, Python-level value conversion for the log). These tests pin them to the batch path on
real leads and on the edge cases an API sees: missing values everywhere, categories never seen in training,
leads without any activity, negative-looking input refused.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import replace
from datetime import UTC, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.core import canonical
from leadscore.core.errors import SchemaError
from leadscore.features.build import FeatureBatch, build_features, leads_from_frame
from leadscore.features.intent import activity_columns
from leadscore.models.bundle import ScoringBundle, _hash_rows
from leadscore.models.single_row import SingleRowPredictor
from tests.serving_fixtures import (  # noqa: F401 - fixtures
    LiveLeads,
    live_leads_fixture,
    tiny_bundle_dir_fixture,
    tiny_bundle_fixture,
)


def model_matrix(bundle: ScoringBundle, leads: pd.DataFrame, activities: pd.DataFrame | None) -> np.ndarray:
    batch = build_features(leads_from_frame(leads, bundle.spec), bundle.spec, activity_columns(activities))
    return np.ascontiguousarray(bundle.transformer.transform(batch.features))


def edge_leads(live_leads: LiveLeads) -> pd.DataFrame:
    """Real leads plus the awkward ones: everything missing, unseen categories, zero and huge numbers."""
    base = live_leads.leads.iloc[:30].copy()
    roles = [c for c in canonical.ROLE_COLUMNS if c in base.columns]
    empty = base.iloc[:3].copy()
    empty[roles] = None
    empty[canonical.LEAD_ID] = ["E-MISSING-1", "E-MISSING-2", "E-MISSING-3"]
    unseen = base.iloc[3:6].copy()
    text_roles = [c for c in roles if not pd.api.types.is_numeric_dtype(base[c])]
    assert text_roles
    unseen[text_roles] = "never seen in training"
    unseen[canonical.LEAD_ID] = ["E-UNSEEN-1", "E-UNSEEN-2", "E-UNSEEN-3"]
    extreme = base.iloc[6:8].copy()
    for column in (canonical.EMPLOYEES, canonical.ANNUAL_REVENUE):
        if column in extreme.columns:
            extreme[column] = [0.0, 1e12]
    extreme[canonical.LEAD_ID] = ["E-EXTREME-1", "E-EXTREME-2"]
    return pd.concat([base, empty, unseen, extreme], ignore_index=True)


def test_single_row_predictor_gives_the_boosters_margins_bit_for_bit(
    tiny_bundle: ScoringBundle, live_leads: LiveLeads
) -> None:
    X = model_matrix(tiny_bundle, edge_leads(live_leads), live_leads.activities)
    rng = np.random.default_rng(7)
    holes = X.copy()
    holes[rng.random(X.shape) < 0.3] = np.nan  # missing values in every column
    noise = rng.normal(0.0, 1e3, size=(50, X.shape[1]))  # values far outside anything seen
    predictor = SingleRowPredictor(tiny_bundle.booster)
    for matrix in (X, holes, noise):
        expected = tiny_bundle.booster.predict(matrix, raw_score=True)
        assert np.array_equal(predictor.predict(matrix), expected)
    with pytest.raises(ValueError, match="columns"):
        predictor.predict(X[:, :-1])


def test_one_lead_at_a_time_scores_like_the_batch_on_edge_cases(
    tiny_bundle: ScoringBundle, live_leads: LiveLeads
) -> None:
    leads = edge_leads(live_leads)
    activities = live_leads.activities[
        live_leads.activities[canonical.LEAD_ID].isin(leads[canonical.LEAD_ID])
    ]
    expected = tiny_bundle.score(leads, activities).set_index(canonical.LEAD_ID)
    by_lead = {k: g.to_dict(orient="records") for k, g in activities.groupby(canonical.ACTIVITY_LEAD_ID)}
    records = leads.to_dict(orient="records")
    assert any(r[canonical.LEAD_ID] not in by_lead for r in records)  # some leads have no activity at all
    for record in records:
        [one] = tiny_bundle.score_records([record], by_lead.get(record[canonical.LEAD_ID], []))
        row = expected.loc[one[canonical.LEAD_ID]]
        assert one["probability"] == row["probability"]
        assert (one["score"], one["band"], one["is_mql"], one["is_sql"]) == (
            row["score"],
            row["band"],
            row["is_mql"],
            row["is_sql"],
        )
        assert one["reasons_positive"] == row["reasons_positive"]
        assert one["reasons_negative"] == row["reasons_negative"]
        assert one["features_hash"] == row["features_hash"]


@pytest.mark.parametrize("size", [2, 3, 8, 9, 32])
def test_micro_batches_of_a_few_leads_score_like_the_whole_batch(
    tiny_bundle: ScoringBundle, live_leads: LiveLeads, size: int
) -> None:
    """The API's micro-batches (leadscore.serving.batcher) take the few-lead paths: per-lead reasons, single
    rows."""
    leads = edge_leads(live_leads)
    assert len(leads) > 32  # the whole batch takes the columnar reason assembly
    activities = live_leads.activities[
        live_leads.activities[canonical.LEAD_ID].isin(leads[canonical.LEAD_ID])
    ]
    events = activities.to_dict(orient="records")
    records = leads.to_dict(orient="records")
    whole = tiny_bundle.score_records(records, events, with_features=True)
    for start in range(0, len(records), size):
        chunk = records[start : start + size]
        ids = {r[canonical.LEAD_ID] for r in chunk}
        few = tiny_bundle.score_records(
            chunk, [e for e in events if e[canonical.ACTIVITY_LEAD_ID] in ids], with_features=True
        )
        assert few == whole[start : start + size]


def test_logged_features_are_the_built_features_with_nan_as_none(
    tiny_bundle: ScoringBundle, live_leads: LiveLeads
) -> None:
    leads = edge_leads(live_leads)
    activities = live_leads.activities[
        live_leads.activities[canonical.LEAD_ID].isin(leads[canonical.LEAD_ID])
    ]
    spec = tiny_bundle.spec
    batch = build_features(leads_from_frame(leads, spec), spec, activity_columns(activities))
    records = leads.to_dict(orient="records")
    many = tiny_bundle.score_records(records, activities.to_dict(orient="records"), with_features=True)
    assert len(many) > 8  # the columnar conversion
    for i, out in enumerate(many):
        one = tiny_bundle.score_records(
            [records[i]],
            activities[activities[canonical.LEAD_ID] == records[i][canonical.LEAD_ID]].to_dict(
                orient="records"
            ),
            with_features=True,
        )[0]  # the per-value conversion of one lead
        assert one["features"] == out["features"]
        assert list(out["features"]) == tiny_bundle.feature_names
        for name, value in out["features"].items():
            raw = batch.features[name][i]
            if raw is None or (isinstance(raw, float) and math.isnan(raw)):
                assert value is None, name
            else:
                assert value == raw, name
                assert not isinstance(value, np.generic), name
    assert any(v is None for out in many for v in out["features"].values())  # the edge leads have gaps


def test_a_bundle_that_used_the_fast_path_still_pickles_and_reloads(
    tiny_bundle: ScoringBundle, live_leads: LiveLeads, tmp_path: Path
) -> None:
    record = live_leads.leads.iloc[:1].to_dict(orient="records")
    before = tiny_bundle.score_records(record)[0]["probability"]
    assert "_single_row" in tiny_bundle.__dict__  # the fast path ran and holds a C handle
    copy = pickle.loads(pickle.dumps(tiny_bundle))
    assert "_single_row" not in copy.__dict__
    assert copy.score_records(record)[0]["probability"] == before
    reloaded = ScoringBundle.load(tiny_bundle.save(tmp_path / "bundle"))
    assert reloaded.version == tiny_bundle.version
    assert reloaded.score_records(record)[0]["probability"] == before


def random_leads(live_leads: LiveLeads, n: int, seed: int) -> pd.DataFrame:
    """Real leads with their fields shuffled, blanked, replaced by unseen text or pushed to extremes."""
    rng = np.random.default_rng(seed)
    base = live_leads.leads.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    out = base.copy()
    for column in [c for c in canonical.ROLE_COLUMNS if c in base.columns]:
        values = base[column].to_numpy(dtype=object).copy()
        rng.shuffle(values)  # combinations the training data never had
        numeric = pd.api.types.is_numeric_dtype(base[column])
        odd = rng.random(n)
        values[odd < 0.15] = None
        if numeric:
            values[(odd >= 0.15) & (odd < 0.22)] = rng.choice([0.0, 1e12, 0.5, 3.0], size=n)[
                (odd >= 0.15) & (odd < 0.22)
            ]
        else:
            pick = (odd >= 0.15) & (odd < 0.25)
            values[pick] = rng.choice(["never seen", "  padded  ", "", "VP Sales", "ceo"], size=n)[pick]
        out[column] = pd.Series(values, dtype="float64" if numeric else object)
    out[canonical.LEAD_ID] = [f"R{seed}-{i}" for i in range(n)]
    return out


def random_intent(spec_names: list[str], n: int, seed: int) -> list[dict[str, float | None]]:
    """Pre-aggregated intent per lead: some columns absent, some null, zeros, fractions and large counts."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        row: dict[str, float | None] = {}
        for name in spec_names:
            u = rng.random()
            if u < 0.3 and name != "intent_total":
                # Absent: 0 for counts, NaN for the days since the last activity. (An absent total is the
                # sum of the counts, a null one 0, and a frame cannot tell absent from null: not tested here.)
                continue
            row[name] = None if u < 0.4 else float(rng.choice([0.0, 1.0, 2.5, 7.0, 1e6]))
        rows.append(row)
    return rows


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_leads_with_intent_counts_score_alike_one_by_one_and_as_a_frame(
    tiny_bundle: ScoringBundle, live_leads: LiveLeads, seed: int
) -> None:
    # 80 leads: the frame route takes the vectorised (pandas) branches of every normaliser, the records
    # route one lead at a time takes the small-batch branches, the single-row predictor and one-lead reasons.
    leads = random_leads(live_leads, 80, seed)
    intents = random_intent(tiny_bundle.spec.intent_feature_names, len(leads), seed)
    frame = pd.concat([leads, pd.DataFrame(intents, index=leads.index, dtype="float64")], axis=1)
    expected = tiny_bundle.score(frame)
    records = [
        {**lead, **intent} for lead, intent in zip(leads.to_dict(orient="records"), intents, strict=True)
    ]
    batch = build_features(leads_from_frame(frame, tiny_bundle.spec), tiny_bundle.spec)
    plus_five = timezone(timedelta(hours=5, minutes=30))
    for i, record in enumerate(records):
        created = record[canonical.CREATED_AT].to_pydatetime()  # what the API's pydantic model hands over
        record[canonical.CREATED_AT] = created if i % 2 else created.replace(tzinfo=UTC).astimezone(plus_five)
        [one] = tiny_bundle.score_records([record], with_features=True)
        row = expected.iloc[i]
        assert one["probability"] == row["probability"], i
        assert (one["score"], one["band"], one["is_mql"], one["is_sql"]) == tuple(
            row[["score", "band", "is_mql", "is_sql"]]
        )
        assert one["reasons_positive"] == row["reasons_positive"], i
        assert one["reasons_negative"] == row["reasons_negative"], i
        assert one["features_hash"] == row["features_hash"], i
        for name, value in one["features"].items():
            raw = batch.features[name][i]
            assert (value is None and (raw is None or raw != raw)) or value == raw, (i, name)


def test_small_and_large_encodings_give_the_same_matrix(
    tiny_bundle: ScoringBundle, live_leads: LiveLeads
) -> None:
    leads = random_leads(live_leads, 100, 11)
    batch = build_features(leads_from_frame(leads, tiny_bundle.spec), tiny_bundle.spec)
    transformer = tiny_bundle.transformer
    whole = transformer.encode_columns(batch.features)  # >= SMALL_BATCH rows: the column-by-column fill
    assert np.array_equal(whole, transformer.transform(batch.features), equal_nan=True)
    for start in range(0, 100, 7):  # small slices: the per-column conversion with one copy
        part = {name: values[start : start + 7] for name, values in batch.features.items()}
        small = transformer.encode_columns(part)
        assert small.flags.c_contiguous
        assert np.array_equal(small, whole[start : start + 7], equal_nan=True)
    for i in range(100):  # one row: the API's per-value conversion
        one = transformer.encode_columns({name: values[i : i + 1] for name, values in batch.features.items()})
        assert one.shape == (1, whole.shape[1])
        assert one.flags.c_contiguous
        assert np.array_equal(one, whole[i : i + 1], equal_nan=True)


def test_negative_or_text_intent_counts_are_refused_naming_the_column(
    tiny_bundle: ScoringBundle, live_leads: LiveLeads
) -> None:
    record = live_leads.leads.iloc[:1].to_dict(orient="records")[0]
    count = tiny_bundle.spec.intent_count_names[3]
    for bad, message in ((-1.0, "must not be negative"), ("many", "must be numeric")):
        with pytest.raises(SchemaError, match=f"{count}.*{message}"):
            tiny_bundle.score_records([{**record, count: bad}])
    with pytest.raises(SchemaError, match="intent_days_since_last.*must not be negative"):
        tiny_bundle.score_records([{**record, count: 2.0, "intent_days_since_last": -3.0}])


def test_one_row_reason_labels_and_values_match_the_array_versions(
    tiny_bundle: ScoringBundle, live_leads: LiveLeads
) -> None:
    """The one-lead reasons' ``label_code_one`` / ``value_one`` give ``label_codes`` / ``values`` on every
    row, including rows with holes in every column and values far outside the bins."""
    leads = edge_leads(live_leads)
    batch = build_features(
        leads_from_frame(leads, tiny_bundle.spec), tiny_bundle.spec, activity_columns(live_leads.activities)
    )
    X = np.ascontiguousarray(tiny_bundle.transformer.transform(batch.features))
    rng = np.random.default_rng(11)
    holes = X.copy()
    holes[rng.random(X.shape) < 0.3] = np.nan
    wild = X * rng.choice([-1e6, 1e6, 0.5], size=X.shape)
    explainer = tiny_bundle.explainer
    index = explainer._index
    checked = 0
    for matrix in (X, holes, wild):
        for group in explainer.groups:
            codes = group.label_codes(matrix, index)
            for i in range(len(matrix)):
                one = batch_of_one(batch, i)
                row = matrix[i].tolist()
                code = group.label_code_one(row, index)
                assert code == int(codes[i]), (group.key, i)
                expected = group.values(one, matrix[i : i + 1], index, codes[i : i + 1])[0]
                got = group.value_one(one, row, index, code)
                assert type(got) is type(expected), (group.key, i)
                assert got == expected or got is expected, (group.key, i)
                checked += 1
    assert checked > 100


def batch_of_one(batch: FeatureBatch, i: int) -> FeatureBatch:
    """Row ``i`` of a feature batch as a batch of one lead (what the API scores)."""
    return replace(
        batch,
        lead_id=batch.lead_id[i : i + 1],
        features={k: v[i : i + 1] for k, v in batch.features.items()},
        inputs={k: v[i : i + 1] for k, v in batch.inputs.items()},
    )


def test_features_hash_of_a_row_is_the_same_alone_in_a_few_rows_or_in_a_large_batch() -> None:
    """The few-row hash (last mix on Python ints) equals the vectorised one, -0.0 and NaN included."""
    rng = np.random.default_rng(5)
    X = rng.normal(0.0, 1e6, size=(200, 45))
    X[rng.random(X.shape) < 0.2] = np.nan
    X[0, :5] = -0.0
    X[1, :5] = 0.0
    whole = _hash_rows(X)  # > FAST_PATH_ROWS rows: all numpy
    assert len(set(whole)) == len(whole)
    assert _hash_rows(X[:1, :5]) == _hash_rows(X[1:2, :5])
    for i in range(len(X)):
        assert _hash_rows(X[i : i + 1]) == [whole[i]]
        assert _hash_rows(X[i : i + 3]) == whole[i : i + 3]
