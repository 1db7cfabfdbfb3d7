"""Dotted-key overrides of parsed params (the quality benchmark's --set, like `dvc exp run -S`)."""

from pathlib import Path

import pytest

from benchmarks import quality
from leadscore.core.errors import ConfigError
from leadscore.core.params import load_params, with_overrides

REPO = Path(__file__).resolve().parents[2]


def test_overrides_set_nested_keys_and_leave_the_rest_as_loaded() -> None:
    params = load_params(REPO / "configs" / "x_education.yaml")
    changed = with_overrides(params, {"train.refit": True, "calibrate.prior": "history"})
    assert changed.train.refit is True
    assert changed.calibrate.prior == "history"
    assert changed.model_copy(update={"train": params.train, "calibrate": params.calibrate}) == params
    assert with_overrides(params, {}) == params  # a round trip through the dump loses nothing


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"train.nope": 1}, "unknown params key 'train.nope'"),
        ({"nope.refit": 1}, "unknown params key 'nope.refit'"),
        ({"train.refit": "maybe"}, "train.refit"),
        ({"calibrate.prior": "latest"}, "calibrate.prior"),
    ],
)
def test_bad_overrides_are_config_errors_naming_the_key(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        with_overrides(load_params(REPO / "params.yaml"), overrides)


def test_quality_benchmark_refuses_a_set_without_a_value(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        quality.main(["--set", "train.refit"])
    assert exc.value.code == 2
    assert "--set takes KEY=VALUE, got 'train.refit'" in capsys.readouterr().err
