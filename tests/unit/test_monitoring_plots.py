"""Plot files: DVC JSON with the agreed fields, PNGs that render offline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from leadscore.monitoring import metrics as m
from leadscore.monitoring import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tables() -> tuple[m.ScoreTables, dict[str, float]]:
    rng = np.random.default_rng(0)
    p = rng.beta(1, 6, 8000)
    y = (rng.random(8000) < p).astype(float)
    return m.score_tables(y, p), m.evaluate_scores(y, p)


def test_dvc_plot_files_have_the_fields_dvc_yaml_plots(tmp_path: Path) -> None:
    score_tables, _ = tables()
    written = plots.write_dvc_plots(score_tables, tmp_path)
    assert set(written) == {"roc.json", "pr.json", "calibration.json", "gains.json"}
    expected = {
        "roc.json": {"fpr", "tpr"},
        "pr.json": {"recall", "precision"},
        "calibration.json": {"mean_predicted", "fraction_positive", "count"},
        "gains.json": {"share_of_leads", "share_of_conversions"},
    }
    for name, fields in expected.items():
        records = json.loads((tmp_path / name).read_text())
        assert isinstance(records, list)
        assert records
        assert set(records[0]) == fields
        assert len(records) <= 200


def test_png_plots_render_offline_and_are_deterministic(tmp_path: Path) -> None:
    score_tables, metrics = tables()
    first = plots.write_png_plots(score_tables, tmp_path / "a", metrics)
    second = plots.write_png_plots(score_tables, tmp_path / "b", metrics)
    assert set(first) == {"roc.png", "pr.png", "calibration.png", "gains.png", "lift.png"}
    for name, path in first.items():
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC)
        assert len(data) > 5000  # an actual chart, not an empty canvas
        assert data == second[name].read_bytes()
