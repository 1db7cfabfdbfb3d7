# The two README commands: `make run` (main job) and `make test` (tests). Both install what they need.
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
export DVC_NO_ANALYTICS := 1
# DVC stage commands call `python`: make it the project's environment.
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export GX_ANALYTICS_ENABLED := False
export MLFLOW_ENABLE_TELEMETRY := false
export DO_NOT_TRACK := 1

.PHONY: install run pipeline serve report test lint bench clean

$(UV):
	python3 -m pip install --user --quiet "uv==$(UV_VERSION)"

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet --compile-bytecode
	@touch $@

install: .venv/.synced

## Main job: simulated CRM -> dvc repro (validate, train, calibrate, evaluate, register champion, quarterly report)
## -> scoring service smoke test on 127.0.0.1.
run: install
	.venv/bin/python -m leadscore.pipelines.demo

pipeline: install
	.venv/bin/dvc repro

serve: install
	.venv/bin/leadscore serve

## Rebuild the quarterly report stage (and what it depends on) after a change.
report: install
	.venv/bin/dvc repro report

test: install
	.venv/bin/pytest -q

lint: install
	.venv/bin/ruff check .

bench: install
	.venv/bin/python -m benchmarks.run

clean:
	rm -rf data/interim data/processed data/model data/reference mlruns reports/quarterly reports/registry.json .leadscore
