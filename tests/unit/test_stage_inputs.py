"""leadscore.pipelines._entry: the one reader of stage inputs and of a period's leads (evaluate, register,
report)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from leadscore.core.errors import SourceError
from leadscore.pipelines._entry import load_periods, read_stage_parquet


def _write(root: Path) -> tuple[Path, Path]:
    interim, processed = root / "interim", root / "processed"
    interim.mkdir()
    processed.mkdir()
    pd.DataFrame({"lead_id": ["1", "2", "3", "4"], "label": [0, 1, 0, 1]}).to_parquet(
        interim / "leads.parquet"
    )
    pd.DataFrame({"lead_id": ["2", "3", "9"], "occurred_at": pd.to_datetime(["2024-01-01"] * 3)}).assign(
        activity_type="email"
    ).to_parquet(interim / "activities.parquet")
    pd.DataFrame(
        {
            "lead_id": [1, 2, 3, 4],
            "split": ["train", "validation", "test", "test"],
            "as_of": pd.to_datetime(["2024-01-01"] * 4),
            "firmo_region": ["EU", "EU", "NA", "NA"],
        }
    ).to_parquet(processed / "features.parquet")
    return interim, processed


def test_load_periods_returns_the_leads_activities_and_frame_rows_of_the_periods(tmp_path: Path) -> None:
    interim, processed = _write(tmp_path)
    leads, activities, frame = load_periods(interim, processed, ["validation", "test"], ["as_of", "absent"])
    assert leads["lead_id"].tolist() == ["2", "3", "4"]
    assert activities is not None
    assert activities["lead_id"].tolist() == ["2", "3"]
    assert list(frame.columns) == ["lead_id", "as_of"]
    assert frame["lead_id"].tolist() == ["2", "3", "4"]  # ids as text, like the canonical tables
    with pytest.raises(SourceError, match=r"no lead of the \['nope'\] period"):
        load_periods(interim, processed, ["nope"])
    (interim / "activities.parquet").unlink()
    assert load_periods(interim, processed, ["test"])[1] is None


def test_missing_or_corrupt_inputs_are_one_readable_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="run the featurize stage first"):
        load_periods(tmp_path, tmp_path, ["test"])
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(SourceError, match="broken.parquet is not a readable Parquet file"):
        read_stage_parquet(broken)
