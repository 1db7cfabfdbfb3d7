"""Render a QuarterlyReport as one self-contained HTML file and its JSON twin.

The HTML must open anywhere, offline, and survive being e-mailed: CSS is inline, every chart is a base64 PNG
drawn with matplotlib (Agg), there is no JavaScript and no external URL. Every value is HTML-escaped. The JSON
twin holds the same numbers for machines (dashboards, the next quarter's comparison).
"""

from __future__ import annotations

import base64
import html
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from leadscore.monitoring.plots import (
    ACCENT_COLOR,
    MODEL_COLOR,
    REFERENCE_COLOR,
    calibration_figure,
    figure_to_png,
    gains_figure,
    lift_figure,
    roc_figure,
)
from leadscore.reporting.quarterly import QuarterlyReport

logger = logging.getLogger(__name__)

Formatter = Callable[[Any], str]

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1d2733;margin:0;
background:#f5f7fa}
main{max-width:1080px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:2px solid #e3e8ef;
padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
p.meta{color:#5b6776;margin:0 0 16px;font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{flex:1 1 150px;border:1px solid #e3e8ef;border-radius:6px;padding:10px 12px}
.card .v{font-size:20px;font-weight:600}.card .k{font-size:12px;color:#5b6776}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0 12px;width:100%}
th,td{border-bottom:1px solid #e3e8ef;padding:4px 6px;text-align:right}
th{background:#f0f3f7;font-weight:600}td:first-child,th:first-child{text-align:left}
tr.muted td{color:#9aa5b1}
ul.recs{list-style:none;padding:0}ul.recs li{margin:6px 0;padding:8px 10px;border-left:5px solid #9aa5b1;
background:#f8fafc}ul.recs li small{display:block;color:#5b6776}
li.retrain{border-color:#c0392b!important}li.recalibrate{border-color:#d1603d!important}
li.investigate{border-color:#b7791f!important}li.watch,li.review_bands{border-color:#2b6cb0!important}
li.none{border-color:#2f855a!important}
.figs{display:flex;flex-wrap:wrap;gap:8px}.figs img{width:48%;min-width:320px;border:1px solid #eef1f5}
.note{font-size:12px;color:#5b6776}
"""


# ----------------------------------------------------------------------------------------------------
# formatting
# ----------------------------------------------------------------------------------------------------
def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fmt_pct(value: Any) -> str:
    """0.1234 -> "12.3%"."""
    return "-" if _missing(value) else f"{float(value):.1%}"


def fmt_num(value: Any, digits: int = 3) -> str:
    """A decimal with ``digits`` places."""
    return "-" if _missing(value) else f"{float(value):.{digits}f}"


def fmt_int(value: Any) -> str:
    """A count with thousands separators."""
    return "-" if _missing(value) else f"{int(value):,}"


def fmt_text(value: Any) -> str:
    """Plain text (booleans as yes/no)."""
    if _missing(value):
        return "-"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    return str(value)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(
    frame: pd.DataFrame | None, columns: Sequence[tuple[str, str, Formatter]], muted: str | None = None
) -> str:
    """HTML table of the given (column, header, formatter) triples; rows where ``muted`` is False are grey."""
    if frame is None or frame.empty:
        return '<p class="note">No data.</p>'
    present = [(c, h, f) for c, h, f in columns if c in frame.columns]
    head = "".join(f"<th>{_e(h)}</th>" for _, h, _ in present)
    rows = []
    for record in frame.to_dict(orient="records"):
        cls = ' class="muted"' if muted and record.get(muted) in (False, 0) else ""
        cells = "".join(f"<td>{_e(f(record.get(c)))}</td>" for c, _, f in present)
        rows.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _img(fig: Figure, alt: str) -> str:
    data = base64.b64encode(figure_to_png(fig)).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _card(label: str, value: str) -> str:
    return f'<div class="card"><div class="v">{_e(value)}</div><div class="k">{_e(label)}</div></div>'


# ----------------------------------------------------------------------------------------------------
# report-specific figures
# ----------------------------------------------------------------------------------------------------
def cohort_figure(cohorts: pd.DataFrame) -> Figure:
    """Estimated (CBPE) vs realized AUC per quarter, realized with its bootstrap interval."""
    fig = Figure(figsize=(5.0, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(cohorts))
    ax.plot(
        x, cohorts["estimated_auc"], marker="o", color=REFERENCE_COLOR, label="estimated (before outcomes)"
    )
    if "realized_auc" in cohorts.columns:
        real = cohorts["realized_auc"].to_numpy(dtype=float)
        low = cohorts.get("realized_auc_low", pd.Series(np.nan, index=cohorts.index)).to_numpy(dtype=float)
        high = cohorts.get("realized_auc_high", pd.Series(np.nan, index=cohorts.index)).to_numpy(dtype=float)
        ok = np.isfinite(real)
        ax.errorbar(
            x[ok],
            real[ok],
            yerr=[real[ok] - low[ok], high[ok] - real[ok]],
            fmt="s",
            color=MODEL_COLOR,
            capsize=3,
            label="realized (95% CI)",
        )
    ax.set_xticks(x, cohorts["quarter"].astype(str).tolist())
    ax.set_title("AUC by cohort: estimate vs realized", fontsize=11)
    ax.set_ylabel("AUC")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return fig


def band_figure(bands: pd.DataFrame) -> Figure:
    """Conversion per band: expected (mean probability this quarter) beside realized (matured cohort)."""
    fig = Figure(figsize=(5.0, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(bands))
    ax.bar(
        x - 0.2,
        bands["expected_conversion"],
        width=0.4,
        color=REFERENCE_COLOR,
        label="expected (this quarter)",
    )
    if "realized_conversion" in bands.columns:
        ax.bar(
            x + 0.2, bands["realized_conversion"], width=0.4, color=MODEL_COLOR, label="realized (matured)"
        )
    ax.set_xticks(x, bands["band"].astype(str).tolist())
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    ax.set_title("Conversion by band", fontsize=11)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def psi_figure(features: pd.DataFrame, threshold: float, top: int = 15) -> Figure:
    """PSI of the most drifted inputs with the "act" threshold."""
    rows = features.sort_values("psi", ascending=False).head(top).iloc[::-1]
    fig = Figure(figsize=(5.0, 0.6 + 0.25 * max(len(rows), 4)))
    ax = fig.add_subplot(1, 1, 1)
    colors = [ACCENT_COLOR if v > threshold else MODEL_COLOR for v in rows["psi"]]
    ax.barh(rows["feature"].astype(str), rows["psi"], color=colors)
    ax.axvline(threshold, color=ACCENT_COLOR, ls="--", lw=1)
    ax.set_title("Input drift (PSI)", fontsize=11)
    ax.grid(True, axis="x", alpha=0.3)
    return fig


# ----------------------------------------------------------------------------------------------------
# sections
# ----------------------------------------------------------------------------------------------------
def _recommendations(report: QuarterlyReport) -> str:
    items = []
    for rec in report.recommendations:
        items.append(
            f'<li class="{_e(rec.action)}"><strong>{_e(rec.message)}</strong><small>rule: '
            f"{_e(rec.rule)}</small></li>"
        )
    return f'<ul class="recs">{"".join(items)}</ul>'


def _cards(report: QuarterlyReport) -> str:
    s, k = report.summary, report.kpis
    ci = s.get("realized_auc_ci")
    realized = fmt_num(s.get("realized_auc"))
    if ci and not any(_missing(v) for v in ci):
        realized += f" [{fmt_num(ci[0])}, {fmt_num(ci[1])}]"
    cards = [
        _card("leads scored this quarter", fmt_int(s.get("leads_scored"))),
        _card("qualification (MQL) rate", fmt_pct(k.get("qualification_rate"))),
        _card("estimated AUC this quarter (CBPE)", fmt_num(s.get("estimated_auc"))),
        _card(f"realized AUC, {s.get('realized_cohort') or 'no matured'} cohort", realized),
        _card(
            f"AUC estimated for {s.get('realized_cohort') or 'it'} before outcomes",
            fmt_num(s.get("realized_cohort_estimated_auc")),
        ),
        _card("conversion rate (matured)", fmt_pct(k.get("conversion_rate"))),
        _card("score PSI", fmt_num(s.get("score_psi"))),
    ]
    return f'<div class="cards">{"".join(cards)}</div>'


def _realized_section(report: QuarterlyReport) -> str:
    info = report.realized
    if info is None:
        return (
            '<h2>Realized accuracy</h2><p class="note">No cohort has enough matured outcomes yet '
            f"(at least {report.settings.get('min_segment_count')} leads created more than "
            f"{report.settings.get('maturity_days')} days before the report). See the estimates above.</p>"
        )
    m, ci = info["metrics"], info["intervals"]

    def with_ci(name: str, fmt: Formatter) -> str:
        if name in ci and not _missing(ci[name].get("low")):
            return f"{fmt(m.get(name))} [{fmt(ci[name]['low'])}, {fmt(ci[name]['high'])}]"
        return fmt(m.get(name))

    rows = [
        (
            "AUC",
            with_ci("auc", fmt_num),
            "chance 0.5; plan for 0.65-0.85 on real data, above 0.95 suspect leakage",
        ),
        (
            "PR AUC (average precision)",
            with_ci("pr_auc", fmt_num),
            f"chance = base rate {fmt_pct(m['base_rate'])}",
        ),
        ("KS", fmt_num(m.get("ks")), "max separation of converters and non-converters"),
        (
            "Brier score",
            with_ci("brier", lambda v: fmt_num(v, 4)),
            f"skill {fmt_num(m.get('brier_skill'))} vs base rate",
        ),
        ("Log loss", fmt_num(m.get("log_loss"), 4), "lower is better"),
        (
            "ECE (10 quantile bins)",
            fmt_num(m.get("ece"), 4),
            "caveat: biased upwards on finite samples and depends on the binning; a perfectly calibrated "
            f"model would show up to {fmt_num(m.get('ece_noise_floor'), 4)} here (95% of simulations)",
        ),
        (
            "Calibration-in-the-large",
            with_ci("calibration_in_the_large", lambda v: f"{float(v):+.4f}"),
            "mean probability - conversion rate",
        ),
        ("Calibration slope", fmt_num(m.get("calibration_slope")), "1 is ideal; < 1 over-confident"),
        (
            "Top-decile lift",
            f"{fmt_num(m.get('top_decile_lift'), 2)}x",
            "win rate of the top 10% / base rate",
        ),
    ]
    body = "".join(f"<tr><td>{_e(a)}</td><td>{_e(b)}</td><td>{_e(c)}</td></tr>" for a, b, c in rows)
    html_parts = [
        f"<h2>Realized accuracy: {_e(info['cohort'])} cohort ({fmt_int(info['n'])} matured leads)</h2>",
        "<table><thead><tr><th>metric</th><th>value [95% CI]</th><th>reading</th></tr></thead>"
        f"<tbody>{body}</tbody>"
        "</table>",
    ]
    for key, flag in (("confusion_mql", "MQL"), ("confusion_sql", "SQL")):
        conf = info.get(key)
        if not conf:
            continue
        html_parts.append(
            f"<h3>Confusion at the {flag} threshold</h3>"
            "<table><thead><tr><th></th><th>converted</th><th>not converted</th></tr></thead><tbody>"
            f"<tr><td>{flag}</td><td>{fmt_int(conf['tp'])}</td><td>{fmt_int(conf['fp'])}</td></tr>"
            f"<tr><td>not {flag}</td>"
            f"<td>{fmt_int(conf['fn'])}</td><td>{fmt_int(conf['tn'])}</td></tr></tbody></table>"
            f'<p class="note">precision {fmt_pct(conf["precision"])}, recall {fmt_pct(conf["recall"])}, '
            f"{flag} share {fmt_pct(conf['predicted_positive_rate'])}</p>"
        )
    if report.deciles is not None:
        html_parts.append("<h3>Lift and gains by score decile</h3>")
        html_parts.append(
            _table(
                report.deciles,
                [
                    ("decile", "decile (1 = best)", fmt_text),
                    ("n", "leads", fmt_int),
                    ("conversions", "conversions", fmt_int),
                    ("win_rate", "win rate", fmt_pct),
                    ("lift", "lift", lambda v: f"{fmt_num(v, 2)}x"),
                    ("mean_probability", "mean probability", fmt_pct),
                    ("cumulative_gain", "cumulative gain", fmt_pct),
                ],
            )
        )
    if report.curves is not None:
        figs = [
            _img(roc_figure(report.curves.roc, m.get("auc")), "ROC curve"),
            _img(calibration_figure(report.curves.reliability, m.get("ece")), "reliability diagram"),
            _img(gains_figure(report.curves.gains), "cumulative gains"),
            _img(lift_figure(report.curves.deciles), "lift by decile"),
        ]
        html_parts.append(f'<div class="figs">{"".join(figs)}</div>')
    return "".join(html_parts)


def _estimate_section(report: QuarterlyReport) -> str:
    info = report.estimated
    if info is None:
        return ""
    m, band = info["metrics"], info["band"]

    def ranged(name: str, key: str, fmt: Formatter) -> str:
        rng = band.get(name)
        text = fmt(m.get(key))
        return f"{text} (realized should fall in {fmt(rng['low'])}-{fmt(rng['high'])})" if rng else text

    rows = [
        ("expected conversion rate", ranged("base_rate", "expected_base_rate", fmt_pct)),
        ("expected AUC", ranged("auc", "expected_auc", fmt_num)),
        ("expected MQL precision", ranged("precision", "expected_precision", fmt_pct)),
        ("expected MQL recall", ranged("recall", "expected_recall", fmt_pct)),
        ("expected Brier score", fmt_num(m.get("expected_brier"), 4)),
    ]
    body = "".join(f"<tr><td>{_e(a)}</td><td>{_e(b)}</td></tr>" for a, b in rows)
    months = _table(
        info.get("months"),
        [
            ("month", "month", fmt_text),
            ("n", "leads", fmt_int),
            ("expected_base_rate", "expected conversion", fmt_pct),
            ("expected_auc", "expected AUC", fmt_num),
            ("expected_precision", "expected MQL precision", fmt_pct),
            ("predicted_positive_rate", "MQL share", fmt_pct),
        ],
    )
    return (
        f"<h2>This quarter before outcomes: {_e(info['cohort'])} ({fmt_int(info['n'])} leads, "
        f"{fmt_int(info['n_immature'])} not yet matured)</h2>"
        '<p class="note">Confidence-based performance estimation (CBPE): with calibrated scores every '
        "lead converts with its probability, so the expected accuracy follows from the scores alone. It "
        "cannot see a change in "
        "how inputs relate to outcomes; the realized figures judge that once outcomes mature.</p>"
        f"<table><thead><tr><th>estimate</th><th>value</th></tr></thead><tbody>{body}</tbody></table>{months}"
    )


def _cohort_section(report: QuarterlyReport) -> str:
    cohorts = report.cohorts
    table = _table(
        cohorts,
        [
            ("quarter", "cohort", fmt_text),
            ("n", "leads", fmt_int),
            ("matured_share", "matured", fmt_pct),
            ("estimated_base_rate", "est. conversion", fmt_pct),
            ("realized_base_rate", "real. conversion", fmt_pct),
            ("estimated_auc", "est. AUC", fmt_num),
            ("realized_auc", "real. AUC", fmt_num),
            ("realized_auc_low", "CI low", fmt_num),
            ("realized_auc_high", "CI high", fmt_num),
            ("realized_within_expected", "within expected range", fmt_text),
            ("estimated_mql_precision", "est. MQL precision", fmt_pct),
            ("realized_mql_precision", "real. MQL precision", fmt_pct),
        ],
    )
    fig = _img(cohort_figure(cohorts), "estimated vs realized AUC by cohort") if len(cohorts) else ""
    return (
        "<h2>Quarter over quarter: estimate beside realized, by cohort</h2>"
        '<p class="note">Each quarter\'s estimate is what the scores predicted before any outcome was known; '
        "the realized figure uses only leads whose outcomes have matured.</p>"
        f'{table}<div class="figs">{fig}</div>'
    )


def _bands_section(report: QuarterlyReport) -> str:
    if report.bands.empty:
        return ""
    table = _table(
        report.bands,
        [
            ("band", "band", fmt_text),
            ("n", "leads", fmt_int),
            ("share", "share", fmt_pct),
            ("baseline_share", "baseline share", fmt_pct),
            ("expected_conversion", "expected conversion", fmt_pct),
            ("realized_conversion", "realized conversion", fmt_pct),
            ("lift", "lift", lambda v: f"{fmt_num(v, 2)}x"),
            ("median_sales_cycle_days", "median cycle (days, won)", lambda v: fmt_num(v, 1)),
            ("median_response_hours", "median response (h)", lambda v: fmt_num(v, 1)),
        ],
    )
    figure = _img(band_figure(report.bands), "conversion by band")
    return f'<h2>Bands</h2>{table}<div class="figs">{figure}</div>'


def _segments_section(report: QuarterlyReport) -> str:
    parts = [
        "<h2>Segments</h2>",
        f'<p class="note">Realized figures only for segments with at least '
        f"{_e(report.settings.get('min_segment_count'))} matured leads (greyed rows have fewer).</p>",
    ]
    for column, table in report.segments.items():
        parts.append(f"<h3>{_e(column)}</h3>")
        parts.append(
            _table(
                table,
                [
                    ("segment", "segment", fmt_text),
                    ("n", "leads", fmt_int),
                    ("share", "share", fmt_pct),
                    ("baseline_share", "baseline share", fmt_pct),
                    ("mean_probability", "expected conversion", fmt_pct),
                    ("mql_rate", "MQL rate", fmt_pct),
                    ("n_matured", "matured", fmt_int),
                    ("win_rate", "realized conversion", fmt_pct),
                    ("calibration_in_the_large", "calib. in the large", lambda v: fmt_num(v, 3)),
                    ("auc", "AUC", fmt_num),
                    ("auc_low", "CI low", fmt_num),
                    ("auc_high", "CI high", fmt_num),
                ],
                muted="reportable",
            )
        )
    return "".join(parts)


def _drift_section(report: QuarterlyReport) -> str:
    parts = ["<h2>Drift</h2>"]
    if not report.drift:
        parts.append('<p class="note">No baseline: neither a reference frame nor a previous quarter.</p>')
    for block in report.drift.values():
        th = block["thresholds"]
        score = block.get("score") or {}
        parts.append(
            f"<h3>Against the {_e(block['baseline'])} ({fmt_int(block['n_reference'])} leads)</h3>"
            f'<p class="note">Score PSI {_e(fmt_num(score.get("psi")))} '
            f"({_e(fmt_text(score.get('verdict')))}); "
            f"{fmt_int(block['n_drifted'])} of {fmt_int(block['n_features'])} inputs drifted. "
            f"PSI &lt; {th['psi_moderate']} little change, up to {th['psi_act']} moderate, above: act.</p>"
        )
        features = pd.DataFrame(block.get("features") or [])
        if features.empty:
            continue
        features = features.sort_values("psi", ascending=False)
        parts.append(
            _table(
                features.head(20),
                [
                    ("feature", "input", fmt_text),
                    ("kind", "kind", fmt_text),
                    ("psi", "PSI", fmt_num),
                    ("verdict", "verdict", fmt_text),
                    ("drifted", "drifted", fmt_text),
                    ("js_distance", "JS distance", fmt_num),
                    ("wasserstein", "Wasserstein (normed)", fmt_num),
                    ("top_bin", "most moved bin", fmt_text),
                    ("top_bin_reference_share", "baseline share", fmt_pct),
                    ("top_bin_current_share", "current share", fmt_pct),
                ],
            )
        )
        parts.append(f'<div class="figs">{_img(psi_figure(features, th["psi_act"]), "PSI per input")}</div>')
    return "".join(parts)


def _kpi_section(report: QuarterlyReport) -> str:
    labels = {
        "leads_scored": ("leads scored", fmt_int),
        "expected_conversions": ("expected conversions (sum of probabilities)", lambda v: fmt_num(v, 0)),
        "mql_count": ("MQLs", fmt_int),
        "qualification_rate": ("qualification rate (MQL share)", fmt_pct),
        "sql_count": ("SQLs", fmt_int),
        "sql_rate": ("SQL share", fmt_pct),
        "conversion_rate": ("conversion rate (matured cohort)", fmt_pct),
        "median_sales_cycle_days": ("median sales cycle of won leads (days)", lambda v: fmt_num(v, 1)),
        "median_response_hours": ("median time to first contact (hours)", lambda v: fmt_num(v, 1)),
        "contacted_within_24h": ("contacted within 24 hours", fmt_pct),
    }
    rows = "".join(
        f"<tr><td>{_e(label)}</td><td>{_e(fmt(report.kpis[key]))}</td></tr>"
        for key, (label, fmt) in labels.items()
        if key in report.kpis
    )
    return f"<h2>Sales KPIs</h2><table><tbody>{rows}</tbody></table>"


def render_html(report: QuarterlyReport) -> str:
    """The whole report as one self-contained HTML document."""
    model = report.model
    model_line = ", ".join(f"{k} {v}" for k, v in model.items() if v not in (None, "")) if model else ""
    header = (
        f"<h1>Lead-scoring model review: {_e(report.quarter)}</h1>"
        f'<p class="meta">Leads scored {_e(report.period_start.date())} to {_e(report.period_end.date())}; '
        f"outcomes as of {_e(report.as_of)}; maturity {_e(report.settings.get('maturity_days'))} days"
        f"{'; model ' + _e(model_line) if model_line else ''}.</p>"
        + (f'<p class="meta">Scores: {_e(report.source)}</p>' if report.source else "")
    )
    sections = [
        header,
        "<h2>Recommendations</h2>",
        _recommendations(report),
        _cards(report),
        _cohort_section(report),
        _estimate_section(report),
        _realized_section(report),
        _bands_section(report),
        _segments_section(report),
        _drift_section(report),
        _kpi_section(report),
        '<p class="note">Conventions: a cohort is the quarter a lead was scored in; outcomes count once '
        f"{_e(report.settings.get('maturity_days'))} days have passed. Confidence intervals are percentile "
        f"bootstraps ({_e(report.settings.get('bootstrap_samples'))} resamples, seed "
        f"{_e(report.settings.get('seed'))}"
        "). ECE depends on binning and sample size. PSI thresholds after Yurdakul (2018).</p>",
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Lead-scoring model review {_e(report.quarter)}</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(sections)}</main></body></html>"
    )


def render_json(report: QuarterlyReport) -> str:
    """The JSON twin (strict JSON: NaN becomes null)."""
    return json.dumps(report.to_dict(), indent=1, allow_nan=False) + "\n"


def write_report(report: QuarterlyReport, out_dir: str | Path) -> dict[str, Path]:
    """Write ``quarterly_report_<quarter>.html`` and ``.json`` into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"quarterly_report_{report.quarter}"
    html_path, json_path = out / f"{stem}.html", out / f"{stem}.json"
    html_path.write_text(render_html(report), encoding="utf-8")
    json_path.write_text(render_json(report), encoding="utf-8")
    logger.info("wrote %s and %s", html_path, json_path)
    return {"html": html_path, "json": json_path}
