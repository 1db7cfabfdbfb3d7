"""Pipeline benchmark: ``dvc repro`` from scratch, per stage, the no-op repro right after, and training time.

    python -m benchmarks.pipeline [--n-leads N] [--keep]

It runs the real DVC pipeline in a throw-away copy of the project (the code packages, dvc.yaml and
params.yaml; ``git init`` + ``dvc init``, as tests/integration/test_dvc_pipeline.py does), so the project's
own data/, reports/ and MLflow store are never touched and every run starts from nothing. Per-stage times
come from the moments DVC announces each stage on its streamed output; training time is reported twice: the
train stage as DVC runs it (process start, imports, reading the feature frame, saving the bundle) and
``fit_scoring_bundle`` alone (data/model/train_metrics.json), with the booster's share.

Results go to stdout and benchmarks/out/pipeline.md (gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from benchmarks import publish

OUT_PATH = Path("benchmarks/out/pipeline.md")
CODE = ("pipelines", "features", "models", "serving", "leadscore", "dvc.yaml", "params.yaml")
STAGE_LINE = re.compile(r"Running stage '([^']+)'")


@dataclass
class ReproTiming:
    """One ``dvc repro``: wall time, exit code and the time from each stage's start to the next one's."""

    seconds: float
    returncode: int
    stages: dict[str, float] = field(default_factory=dict)
    tail: str = ""


def copy_project(repo: Path, dest: Path, n_leads: int | None = None, extra: Sequence[str] = ()) -> None:
    """Copy the code, pipeline definition and ``extra`` paths into ``dest``; make it a git + DVC project."""
    for name in (*CODE, *extra):
        src = repo / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dest / name)
    if n_leads is not None:
        params = yaml.safe_load((dest / "params.yaml").read_text())
        params["simulate"]["n_leads"] = n_leads
        (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    _run(dest, ["dvc", "init", "-q"])


def _env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",  # stage commands call `python`
        "PYTHONUNBUFFERED": "1",  # stream DVC's stage announcements as they happen
        "DVC_NO_ANALYTICS": "1",
        "GX_ANALYTICS_ENABLED": "False",
        "MLFLOW_ENABLE_TELEMETRY": "false",
        "DO_NOT_TRACK": "1",
    }


def _run(cwd: Path, args: Sequence[str]) -> None:
    done = subprocess.run(list(args), cwd=cwd, env=_env(), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()[-500:]}")


def timed_repro(project: Path) -> ReproTiming:
    """Run ``dvc repro``, timestamping each "Running stage" line as DVC prints it."""
    dvc = str(Path(sys.executable).parent / "dvc")
    started = time.perf_counter()
    marks: list[tuple[str, float]] = []
    lines: list[str] = []
    with subprocess.Popen(
        [dvc, "repro"],
        cwd=project,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            match = STAGE_LINE.search(line)
            if match:
                marks.append((match.group(1), time.perf_counter() - started))
        returncode = process.wait()
    seconds = time.perf_counter() - started
    stages = {
        name: (marks[i + 1][1] if i + 1 < len(marks) else seconds) - at for i, (name, at) in enumerate(marks)
    }
    return ReproTiming(seconds, returncode, stages, "".join(lines[-20:]))


def markdown(first: ReproTiming, noop: ReproTiming, train_metrics: dict[str, object], n_leads: int) -> str:
    """The results table."""
    rows = [
        "| measurement | seconds |",
        "|---|---|",
        f"| `dvc repro` from scratch ({n_leads:,} simulated leads, all stages) | {first.seconds:.1f} |",
    ]
    for name, seconds in first.stages.items():
        rows.append(f"| - stage `{name}` (from its start to the next stage's) | {seconds:.1f} |")
    rows.append(f"| `dvc repro` right after (no-op) | {noop.seconds:.1f} |")
    fit = train_metrics.get("total_seconds")
    booster = train_metrics.get("train_seconds")
    if isinstance(fit, int | float):
        rows.append(
            f"| training: `fit_scoring_bundle` alone (transformer, booster, calibration, reasons) "
            f"| {fit:.1f} |"
        )
    if isinstance(booster, int | float):
        rows.append(f"| - of which the LightGBM booster fit (early stopping) | {booster:.1f} |")
    reasons = train_metrics.get("reasons")
    if isinstance(reasons, dict) and isinstance(reasons.get("seconds"), int | float):
        rows.append(
            f"| - of which the reason lookup tables (exact TreeSHAP on a sample) | {reasons['seconds']:.1f} |"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 on success, 1 when a repro fails (its output tail on stderr)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.pipeline", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--n-leads", type=int, default=None, help="simulated leads (default: params.yaml)")
    parser.add_argument("--out", type=Path, default=OUT_PATH, help="markdown output file")
    parser.add_argument("--keep", action="store_true", help="keep the throw-away project (path printed)")
    args = parser.parse_args(argv)
    repo = Path.cwd()
    if not (repo / "dvc.yaml").exists():
        print(
            "benchmarks.pipeline: error: run from the repository root (dvc.yaml not found)", file=sys.stderr
        )
        return 2
    n_leads = args.n_leads or int(yaml.safe_load((repo / "params.yaml").read_text())["simulate"]["n_leads"])
    tmp = Path(tempfile.mkdtemp(prefix="leadscore-bench-pipeline-"))
    try:
        project = tmp / "project"
        project.mkdir()
        copy_project(repo, project, args.n_leads)
        first = timed_repro(project)
        if first.returncode:
            print(f"benchmarks.pipeline: dvc repro failed:\n{first.tail}", file=sys.stderr)
            return 1
        noop = timed_repro(project)
        if noop.returncode or noop.stages:
            print(f"benchmarks.pipeline: the second dvc repro was not a no-op:\n{noop.tail}", file=sys.stderr)
            return 1
        metrics_path = project / "data" / "model" / "train_metrics.json"
        train_metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    finally:
        if args.keep:
            print(f"project kept at {tmp / 'project'}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    table = markdown(first, noop, train_metrics, n_leads)
    text = f"## Pipeline timings\n\nReproduce: `python -m benchmarks.run pipeline`\n\n{table}\n"
    publish(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
