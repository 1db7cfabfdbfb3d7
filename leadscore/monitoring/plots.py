"""Model-quality plots: DVC plot JSON (for ``dvc plots diff``) and matplotlib PNGs that render offline.

``dvc plots show`` writes HTML that loads Vega from a CDN and is blank offline (STACK-NOTES.md), so every plot
is also drawn with matplotlib's Agg backend. Figures are built on ``matplotlib.figure.Figure`` directly, never
through pyplot, so nothing touches global state and the code runs headless and thread-safe.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from leadscore.monitoring._common import to_jsonable
from leadscore.monitoring.metrics import ScoreTables

logger = logging.getLogger(__name__)

# One palette for every chart in the project (evaluate plots, quarterly report).
MODEL_COLOR = "#1f5f8b"
REFERENCE_COLOR = "#9aa5b1"
ACCENT_COLOR = "#d1603d"
_FIGSIZE = (5.0, 3.6)
_DPI = 110

# DVC plot files: name -> (table attribute, fields written). Values rounded to 6 decimals keep diffs small.
_DVC_PLOTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "roc.json": ("roc", ("fpr", "tpr")),
    "pr.json": ("pr", ("recall", "precision")),
    "calibration.json": ("reliability", ("mean_predicted", "fraction_positive", "count")),
    "gains.json": ("gains", ("share_of_leads", "share_of_conversions")),
}


def write_dvc_plots(tables: ScoreTables, out_dir: str | Path) -> dict[str, Path]:
    """Write roc.json, pr.json, calibration.json and gains.json (lists of records) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for filename, (attr, fields) in _DVC_PLOTS.items():
        frame: pd.DataFrame = getattr(tables, attr)[list(fields)].copy()
        for col in fields:
            if pd.api.types.is_float_dtype(frame[col]):
                frame[col] = frame[col].round(6)
        path = out / filename
        # One record per line: readable and diff-friendly, and still a JSON array DVC understands.
        records = [json.dumps(rec) for rec in to_jsonable(frame)]
        path.write_text("[\n" + ",\n".join(records) + "\n]\n")
        written[filename] = path
    return written


def figure_to_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes (no timestamp metadata, so identical inputs give identical files)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _axes(title: str, xlabel: str, ylabel: str) -> tuple[Figure, Axes]:
    fig = Figure(figsize=_FIGSIZE)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def roc_figure(roc: pd.DataFrame, auc: float | None = None) -> Figure:
    """ROC curve with the chance diagonal."""
    fig, ax = _axes("ROC curve", "False positive rate", "True positive rate")
    label = f"model (AUC {auc:.3f})" if auc is not None and np.isfinite(auc) else "model"
    ax.plot(roc["fpr"], roc["tpr"], color=MODEL_COLOR, lw=2, label=label)
    ax.plot([0, 1], [0, 1], color=REFERENCE_COLOR, ls="--", lw=1, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def pr_figure(pr: pd.DataFrame, base_rate: float | None = None, ap: float | None = None) -> Figure:
    """Precision-recall curve with the base rate (its chance level)."""
    fig, ax = _axes("Precision-recall", "Recall", "Precision")
    label = f"model (AP {ap:.3f})" if ap is not None and np.isfinite(ap) else "model"
    ax.step(pr["recall"], pr["precision"], where="pre", color=MODEL_COLOR, lw=2, label=label)
    if base_rate is not None and np.isfinite(base_rate):
        ax.axhline(base_rate, color=REFERENCE_COLOR, ls="--", lw=1, label=f"base rate {base_rate:.1%}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.legend(loc="upper right", fontsize=8)
    return fig


def calibration_figure(reliability: pd.DataFrame, ece: float | None = None) -> Figure:
    """Reliability diagram: observed conversion rate vs mean predicted probability, marker area ~ count."""
    fig, ax = _axes("Calibration (reliability)", "Mean predicted probability", "Observed conversion rate")
    top = float(max(reliability["mean_predicted"].max(), reliability["fraction_positive"].max(), 0.05)) * 1.1
    top = min(top, 1.0)
    ax.plot([0, top], [0, top], color=REFERENCE_COLOR, ls="--", lw=1, label="perfect calibration")
    counts = reliability["count"].to_numpy(dtype=float)
    sizes = 20 + 180 * counts / counts.max() if counts.size and counts.max() > 0 else 40
    label = f"model (ECE {ece:.3f})" if ece is not None and np.isfinite(ece) else "model"
    ax.plot(
        reliability["mean_predicted"],
        reliability["fraction_positive"],
        color=MODEL_COLOR,
        lw=1.5,
        label=label,
    )
    ax.scatter(
        reliability["mean_predicted"], reliability["fraction_positive"], s=sizes, color=MODEL_COLOR, alpha=0.6
    )
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def gains_figure(gains: pd.DataFrame) -> Figure:
    """Cumulative gains: share of conversions captured by working the top share of leads."""
    fig, ax = _axes("Cumulative gains", "Share of leads worked (best first)", "Share of conversions")
    ax.plot(gains["share_of_leads"], gains["share_of_conversions"], color=MODEL_COLOR, lw=2, label="model")
    ax.plot([0, 1], [0, 1], color=REFERENCE_COLOR, ls="--", lw=1, label="random order")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def lift_figure(deciles: pd.DataFrame) -> Figure:
    """Lift per score decile (1 = best), with the no-model level at 1."""
    fig, ax = _axes("Lift by score decile", "Decile (1 = highest scores)", "Lift (win rate / base rate)")
    ax.bar(deciles["decile"].astype(str), deciles["lift"], color=MODEL_COLOR)
    ax.axhline(1.0, color=ACCENT_COLOR, ls="--", lw=1)
    return fig


def quality_figures(tables: ScoreTables, metrics: dict[str, float] | None = None) -> dict[str, Figure]:
    """The standard figure set for one scored, labelled window: roc, pr, calibration, gains, lift."""
    metrics = metrics or {}
    return {
        "roc": roc_figure(tables.roc, metrics.get("auc")),
        "pr": pr_figure(tables.pr, metrics.get("base_rate"), metrics.get("pr_auc")),
        "calibration": calibration_figure(tables.reliability, metrics.get("ece")),
        "gains": gains_figure(tables.gains),
        "lift": lift_figure(tables.deciles),
    }


def write_png_plots(
    tables: ScoreTables, out_dir: str | Path, metrics: dict[str, float] | None = None
) -> dict[str, Path]:
    """Write roc.png, pr.png, calibration.png, gains.png and lift.png into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, fig in quality_figures(tables, metrics).items():
        path = out / f"{name}.png"
        path.write_bytes(figure_to_png(fig))
        written[f"{name}.png"] = path
    logger.debug("wrote %d PNG plots to %s", len(written), out)
    return written
