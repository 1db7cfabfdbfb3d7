"""Quarterly report: known answers on simulated scored leads (calibrated, shuffled, shifted mix, immature)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from leadscore.core.params import ReportParams
from leadscore.reporting.prediction_log import log_window
from leadscore.reporting.quarterly import ReportInputError, build_quarterly_report, parse_quarter
from leadscore.reporting.render import render_html, render_json

INDUSTRIES = ["software", "retail", "health", "finance"]
PARAMS = ReportParams(bootstrap_samples=50, min_segment_count=100)
# Most tests look at 2025Q2 as it stood on its last day: 2025Q1 has matured, 2025Q2 has not.
QUARTER_END = "2025-06-30 23:59:59"


def scored_leads(
    n: int = 20_000,
    seed: int = 0,
    *,
    shuffle_from: str | None = None,
    shift_industry_from: str | None = None,
    logit_shift: float = 0.0,
) -> pd.DataFrame:
    """Leads scored 2024-01-01 .. 2025-06-30 with calibrated probabilities; options break the model or the
    mix."""
    rng = np.random.default_rng(seed)
    created = (pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 547, n), unit="D")).sort_values()
    industry = rng.choice(INDUSTRIES, n, p=[0.4, 0.2, 0.2, 0.2])
    if shift_industry_from is not None:
        late = np.asarray(created >= pd.Timestamp(shift_industry_from))
        industry[late] = rng.choice(INDUSTRIES, late.sum(), p=[0.15, 0.6, 0.15, 0.1])
    true_p = rng.beta(1.2, 7.0, n)
    label = (rng.random(n) < true_p).astype(float)
    p = expit(logit(true_p) + logit_shift)
    if shuffle_from is not None:
        late = np.asarray(created >= pd.Timestamp(shuffle_from))
        p[late] = rng.permutation(p[late])
    thresholds = np.quantile(p, [0.9, 0.7, 0.4])
    band = np.select([p >= thresholds[0], p >= thresholds[1], p >= thresholds[2]], ["A", "B", "C"], "D")
    return pd.DataFrame(
        {
            "lead_id": [f"L{i:06d}" for i in range(n)],
            "created_at": created,
            "scored_at": created,
            "probability": p,
            "band": band,
            "is_mql": np.isin(band, ["A", "B"]),
            "is_sql": band == "A",
            "label": label,
            "closed_at": created + pd.to_timedelta(rng.gamma(2.0, 20.0, n), unit="D"),
            "first_contact_at": created + pd.to_timedelta(rng.exponential(10.0, n), unit="h"),
            "industry": industry,
            "lead_source": rng.choice(["web", "event", "referral"], n),
            "region": rng.choice(["NA", "EMEA", "APAC"], n),
        }
    )


def actions(report: object) -> set[str]:
    return {r.action for r in report.recommendations}  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def calibrated_report() -> object:
    frame = scored_leads(seed=1)
    reference = frame[frame["scored_at"] < "2024-04-01"]
    return build_quarterly_report(frame, "2025Q2", PARAMS, reference=reference, seed=3, as_of=QUARTER_END)


def test_calibrated_score_has_slope_one_ece_near_zero_and_no_action(calibrated_report: object) -> None:
    realized = calibrated_report.realized  # type: ignore[attr-defined]
    assert realized["cohort"] == "2025Q1"  # 2025Q2 has not matured by the end of 2025Q2
    metrics = realized["metrics"]
    assert metrics["calibration_slope"] == pytest.approx(1.0, abs=0.12)
    assert metrics["ece"] < 0.03
    # ~0 means: within what sampling noise alone gives a perfectly calibrated score on this many leads.
    assert metrics["ece"] <= metrics["ece_noise_floor"]
    assert abs(metrics["calibration_in_the_large"]) < 0.015
    assert actions(calibrated_report) == {"none"}


def test_every_recent_cohort_shows_estimate_beside_realized(calibrated_report: object) -> None:
    cohorts = calibrated_report.cohorts  # type: ignore[attr-defined]
    assert cohorts["quarter"].tolist() == ["2024Q3", "2024Q4", "2025Q1", "2025Q2"]
    matured = cohorts[cohorts["quarter"] != "2025Q2"]
    assert (matured["realized_auc"] - matured["estimated_auc"]).abs().max() < 0.04
    assert matured["realized_within_expected"].all()
    assert np.isnan(cohorts.loc[cohorts["quarter"] == "2025Q2", "realized_auc"]).all()


def test_the_realized_cohort_is_shown_beside_the_estimate_it_got_before_outcomes(
    calibrated_report: object,
) -> None:
    summary = calibrated_report.summary  # type: ignore[attr-defined]
    cohorts = calibrated_report.cohorts.set_index("quarter")  # type: ignore[attr-defined]
    assert summary["realized_cohort"] == "2025Q1"
    # The estimate depends on the scores only: the 2025Q1 figure is what last quarter's report published.
    assert summary["realized_cohort_estimated_auc"] == cohorts.loc["2025Q1", "estimated_auc"]
    assert summary["realized_cohort_estimated_auc"] == pytest.approx(summary["realized_auc"], abs=0.03)
    page = render_html(calibrated_report)
    assert "AUC estimated for 2025Q1 before outcomes" in page


def test_confusion_matrices_at_the_mql_and_sql_thresholds(calibrated_report: object) -> None:
    realized = calibrated_report.realized  # type: ignore[attr-defined]
    mql, sql = realized["confusion_mql"], realized["confusion_sql"]
    assert mql["predicted_positive_rate"] == pytest.approx(0.3, abs=0.03)
    assert sql["predicted_positive_rate"] == pytest.approx(0.1, abs=0.02)
    assert sql["precision"] > mql["precision"]  # the stricter threshold converts better
    assert mql["tp"] + mql["fp"] + mql["fn"] + mql["tn"] == realized["n"]
    page = render_html(calibrated_report)
    assert "Confusion at the SQL threshold" in page
    assert "a perfectly calibrated model would show up to" in page


def test_this_quarter_gets_a_label_free_estimate_by_month(calibrated_report: object) -> None:
    estimated = calibrated_report.estimated  # type: ignore[attr-defined]
    assert estimated["cohort"] == "2025Q2"
    assert estimated["months"]["month"].tolist() == ["2025-04", "2025-05", "2025-06"]
    assert estimated["metrics"]["expected_auc"] == pytest.approx(0.75, abs=0.03)
    band = estimated["band"]["auc"]
    assert band["low"] < estimated["metrics"]["expected_auc"] < band["high"]


def test_bands_kpis_and_segments_are_filled(calibrated_report: object) -> None:
    report = calibrated_report
    bands = report.bands  # type: ignore[attr-defined]
    assert bands["band"].tolist() == ["A", "B", "C", "D"]
    assert bands["realized_conversion"].is_monotonic_decreasing  # A converts best
    kpis = report.kpis  # type: ignore[attr-defined]
    assert kpis["qualification_rate"] == pytest.approx(0.3, abs=0.03)
    assert kpis["median_response_hours"] == pytest.approx(10 * np.log(2), rel=0.15)  # exponential median
    industry = report.segments["industry"]  # type: ignore[attr-defined]
    assert set(industry["segment"]) == set(INDUSTRIES)
    assert industry["reportable"].all()
    assert industry["auc"].between(0.6, 0.9).all()
    assert (industry["auc_low"] < industry["auc"]).all()


def test_shuffled_score_has_auc_near_half_and_a_retrain_recommendation() -> None:
    frame = scored_leads(seed=2, shuffle_from="2024-10-01")
    report = build_quarterly_report(frame, "2025Q2", PARAMS, seed=3, as_of=QUARTER_END)
    assert report.realized is not None
    assert report.realized["metrics"]["auc"] == pytest.approx(0.5, abs=0.04)
    retrain = [r for r in report.recommendations if r.action == "retrain"]
    assert retrain
    assert retrain[0].message.startswith("Retrain: realized AUC 0.")
    assert "< 0.70 floor" in retrain[0].message
    assert retrain[0].rule == "realized_auc < report.min_auc"
    # The estimate made before outcomes was far more optimistic: flagged as a concept-drift warning.
    assert "investigate" in actions(report)


def test_segment_with_shifted_mix_is_flagged() -> None:
    frame = scored_leads(seed=4, shift_industry_from="2025-04-01")
    reference = frame[frame["scored_at"] < "2024-07-01"]
    report = build_quarterly_report(frame, "2025Q2", PARAMS, reference=reference, seed=3, as_of=QUARTER_END)
    watch = [r for r in report.recommendations if r.action == "watch"]
    assert [r.subject for r in watch] == ["industry=retail"]
    assert watch[0].value > 0.25
    assert watch[0].message.startswith("Watch segment industry=retail: PSI ")
    assert "> 0.25" in watch[0].message
    drifted = report.drift["vs_reference"]["features"]
    assert {row["feature"] for row in drifted if row["drifted"]} == {"industry"}


def test_scores_too_high_on_average_get_a_recalibrate_recommendation() -> None:
    frame = scored_leads(seed=5, logit_shift=0.6)
    report = build_quarterly_report(frame, "2025Q2", PARAMS, seed=3, as_of=QUARTER_END)
    recal = [r for r in report.recommendations if r.action == "recalibrate"]
    assert recal
    assert recal[0].message.startswith("Recalibrate: calibration-in-the-large +0.0")
    assert "beyond +-0.03" in recal[0].message


def test_labels_of_immature_leads_are_never_used() -> None:
    frame = scored_leads(seed=6)
    young = frame["scored_at"] > pd.Timestamp("2025-06-30") - pd.Timedelta(days=90)
    tampered = frame.copy()
    tampered.loc[young, "label"] = 1.0  # early outcomes that would flatter (or sink) the model
    a = build_quarterly_report(frame, "2025Q2", PARAMS, seed=3, as_of=QUARTER_END)
    b = build_quarterly_report(tampered, "2025Q2", PARAMS, seed=3, as_of=QUARTER_END)
    assert a.realized is not None
    assert b.realized is not None
    assert a.realized["metrics"] == b.realized["metrics"]
    pd.testing.assert_frame_equal(a.cohorts, b.cohorts)


def test_default_as_of_is_the_export_so_a_past_quarter_is_judged_on_its_own_outcomes() -> None:
    frame = scored_leads(n=8000, seed=12)  # outcomes recorded until months after 2025Q2
    report = build_quarterly_report(frame, "2025Q2", PARAMS, seed=3)
    assert report.as_of == frame["closed_at"].max()
    assert report.realized is not None
    assert report.realized["cohort"] == "2025Q2"
    assert report.cohorts["matured_share"].iloc[-1] == 1.0


def test_outcome_column_works_without_label() -> None:
    frame = scored_leads(n=6000, seed=7)
    frame["outcome"] = np.where(frame["label"] == 1, "won", "lost")
    frame = frame.drop(columns="label")
    report = build_quarterly_report(frame, "2025Q1", PARAMS, seed=3)
    assert report.realized is not None
    assert report.realized["metrics"]["auc"] > 0.65


def test_small_segments_get_no_realized_auc() -> None:
    frame = scored_leads(n=4000, seed=8)
    frame.loc[frame.index[::200], "industry"] = "mining"  # 20 leads in all
    report = build_quarterly_report(frame, "2025Q2", PARAMS, seed=3, as_of=QUARTER_END)
    mining = report.segments["industry"].set_index("segment").loc["mining"]
    assert not mining["reportable"]
    assert np.isnan(mining["auc"])
    assert '<tr class="muted"><td>mining</td>' in render_html(report)  # shown, but greyed out


def test_report_json_is_strict_and_html_is_self_contained(calibrated_report: object) -> None:
    payload = json.loads(render_json(calibrated_report))  # type: ignore[arg-type]
    assert payload["quarter"] == "2025Q2"
    assert payload["recommendations"][0]["action"] == "none"
    assert payload["realized"]["intervals"]["auc"]["low"] < payload["realized"]["metrics"]["auc"]
    page = render_html(calibrated_report)  # type: ignore[arg-type]
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page
    assert page.count("data:image/png;base64,") >= 6
    assert "No action: accuracy, calibration and drift are within every rule" in page


def test_segment_values_are_html_escaped() -> None:
    frame = scored_leads(n=3000, seed=9)
    frame.loc[frame.index[-50:], "industry"] = "<b>evil & co</b>"
    report = build_quarterly_report(frame, "2025Q2", PARAMS, seed=3, as_of=QUARTER_END)
    page = render_html(report)
    assert "<b>evil" not in page
    assert "&lt;b&gt;evil &amp; co&lt;/b&gt;" in page


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns="probability"), "missing columns \\['probability'\\]"),
        (lambda f: f.assign(probability=1.5), "probability must be a number in \\[0, 1\\]"),
        (lambda f: f.assign(label=2.0), "label must be 0, 1 or missing"),
        (
            lambda f: f[f["scored_at"] < "2025-01-01"],
            "no lead scored in 2025Q2 \\(the scored leads cover 2024Q1-2024Q4\\)",
        ),
    ],
)
def test_bad_input_is_a_clear_error(mutate: object, message: str) -> None:
    frame = scored_leads(n=2000, seed=10)
    with pytest.raises(ReportInputError, match=message):
        build_quarterly_report(mutate(frame), "2025Q2", PARAMS)  # type: ignore[operator]


def test_quarter_spellings() -> None:
    assert str(parse_quarter("2025-q2")) == "2025Q2"
    with pytest.raises(ReportInputError, match="not like 2025Q2"):
        parse_quarter("Q5 of 2025")


@pytest.mark.parametrize("quarter", ["9999Q4", "0001Q1", "1899Q4", "2201Q1"])
def test_quarters_outside_crm_history_are_an_input_error(quarter: str) -> None:
    """Year 1 and 9999 parse, but the report window's neighbours (years 0 and 10000) are no datetime."""
    with pytest.raises(ReportInputError, match=f"quarter '{quarter}': the year must be within 1900-2200"):
        parse_quarter(quarter)


@pytest.mark.parametrize("quarter", ["1900Q1", "2200Q4"])
def test_the_window_of_the_extreme_allowed_quarters_is_a_datetime_range(quarter: str) -> None:
    start, end = log_window(quarter, ReportParams())
    assert start < end


def test_outcomes_recorded_after_the_as_of_date_are_not_known_yet() -> None:
    """A lead old enough to be matured but still open on the report day must not count as won or lost."""
    created = pd.Timestamp("2025-01-15")
    frame = pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3", "L4"],
            "created_at": [created] * 4,
            "probability": [0.8, 0.2, 0.7, 0.1],
            "outcome": ["won", "lost", "won", "lost"],
            # L3 and L4 were still open on the report day (2025-09-30) and closed only afterwards.
            "closed_at": pd.to_datetime(["2025-03-01", "2025-04-01", "2025-11-01", "2025-12-01"]),
        }
    )
    report = build_quarterly_report(frame, "2025Q1", PARAMS, as_of="2025-09-30", seed=3)
    cohort = report.cohorts.set_index("quarter").loc["2025Q1"]
    assert cohort["n"] == 4
    assert cohort["n_matured"] == 2
    assert report.summary["leads_matured"] == 2


def test_without_any_outcome_the_report_never_says_no_action() -> None:
    """An all-clear needs realized accuracy: with no won/lost outcome at all, the report says so instead."""
    frame = scored_leads(n=4000, seed=11).drop(columns=["label", "closed_at"])
    report = build_quarterly_report(frame, "2025Q2", PARAMS, seed=3)
    assert report.realized is None
    messages = [r.message for r in report.recommendations]
    assert not any(m.startswith("No action") for m in messages), messages
    assert messages == [
        "No realized outcomes: no lead has a won or lost outcome yet, so accuracy is not judged (estimates "
        "and drift are within every rule)"
    ]
    assert "No action" not in render_html(report)


def test_outcomes_too_few_to_judge_are_not_an_all_clear_either() -> None:
    frame = scored_leads(n=4000, seed=11)
    frame.loc[frame.index[50:], "label"] = np.nan  # 50 outcomes: below min_segment_count in every cohort
    report = build_quarterly_report(frame, "2025Q2", PARAMS, seed=3)
    assert report.realized is None
    assert [r.message for r in report.recommendations] == [
        "No realized accuracy yet: no cohort has 100 matured leads with both outcomes, so accuracy is not "
        "judged (estimates and drift are within every rule)"
    ]
