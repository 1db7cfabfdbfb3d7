"""Batch scoring benchmark: leads/s with and without reasons beside raw ``Booster.predict`` on the same rows.

    python -m benchmarks.batch [--n-leads N] [--repeats K] [--model DIR]

Rows: the canonical leads (and their activity log) of the simulated default export (params.yaml), pulled into
a temporary directory. Model: ``--model DIR``, else data/model when ``dvc repro`` trained it on the simulator,
else one trained on those leads through the pipeline's own stages (benchmarks.quality.run_product). Every
measurement scores the same rows on the same bundle, best of ``--repeats``:

* ``bundle.score(..., with_reasons=False)``: the whole path from canonical leads + activity log (point-in-time
  intent features, transform, booster, calibration, bands);
* ``bundle.score(..., with_reasons=True)``: the same plus the top 3 positive and negative reasons per lead
  (the lookup tables; what the batch command and the API return);
* ``Booster.predict`` on the model matrix of the same rows (features already built): the floor.

Issue #2's target: >= 20,000 leads/s with reasons on 2 cores, and reasons must not cost 70x the raw predict.
Peak memory: Python-level peak of each call (tracemalloc, an untimed second pass; LightGBM's C++ buffers are
not seen) and the process's maximum resident set size.

Results go to stdout and benchmarks/out/batch.md (gitignored).
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks import publish
from leadscore.core.errors import LeadscoreError
from leadscore.core.params import Params, load_params

OUT_PATH = Path("benchmarks/out/batch.md")
TARGET_WITH_REASONS = 20_000  # leads/s, issue #2
PROJECT_MODEL = Path("data/model")


@dataclass
class Timing:
    """Best wall time over the repeats, and the Python-level peak allocation of one call."""

    name: str
    seconds: float
    peak_mb: float

    def rate(self, rows: int) -> float:
        """Rows per second."""
        return rows / self.seconds if self.seconds > 0 else float("inf")


def measure(name: str, call: Callable[[], Any], repeats: int) -> Timing:
    """Best of ``repeats`` timed calls, then one traced call for the peak allocation."""
    call()  # warm-up: lazy imports, OpenMP thread pool, caches
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    tracemalloc.start()
    try:
        call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return Timing(name, best, peak / 2**20)


def _simulated_params(n_leads: int | None) -> Params:
    params = load_params("params.yaml")
    if n_leads is not None:
        params = params.model_copy(
            update={"simulate": params.simulate.model_copy(update={"n_leads": n_leads})}
        )
    return params


def _project_model(params: Params) -> Path | None:
    """data/model when `dvc repro` has trained it on the simulator (its rows are the ones scored here)."""
    from leadscore.models.bundle import BUNDLE_FILE

    if params.source.kind == "simulator" and (PROJECT_MODEL / BUNDLE_FILE).is_file():
        return PROJECT_MODEL
    return None


def markdown(rows: int, timings: Sequence[Timing], raw: Timing, threads: int, model: str) -> str:
    """The results table with the ratios to raw Booster.predict."""
    lines = [
        f"Rows: {rows:,} canonical leads of the simulated default; model: {model}; LightGBM threads: "
        f"{threads}; best of the repeats.",
        "",
        "| path | seconds | leads/s | time vs raw `Booster.predict` | Python peak MB |",
        "|---|---|---|---|---|",
    ]
    for t in [*timings, raw]:
        ratio = t.seconds / raw.seconds if raw.seconds > 0 else float("nan")
        lines.append(f"| {t.name} | {t.seconds:.3f} | {t.rate(rows):,.0f} | {ratio:.1f}x | {t.peak_mb:.0f} |")
    with_reasons = next(t for t in timings if "with reasons" in t.name)
    rate = with_reasons.rate(rows)
    status = "PASS" if rate >= TARGET_WITH_REASONS else "MISS"
    ratio = with_reasons.seconds / raw.seconds
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    lines += [
        "",
        f"- target: >= {TARGET_WITH_REASONS:,} leads/s with reasons: {rate:,.0f}. {status}",
        f"- reasons cost {with_reasons.seconds / timings[0].seconds:.1f}x the scoring without them; the "
        f"whole path with reasons is {ratio:.1f}x the raw predict (issue #2: must not be 70x). "
        f"{'PASS' if ratio < 70 else 'MISS'}",
        f"- process peak resident memory (whole benchmark, incl. training data): {max_rss:,.0f} MB",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 on success, 2 on a domain error (one line on stderr)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batch", description=__doc__.splitlines()[0])
    parser.add_argument("--n-leads", type=int, default=None, help="simulated leads (default: params.yaml)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per path (best is kept)")
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help=f"bundle directory (default: {PROJECT_MODEL} if made from the simulator, else train one)",
    )
    parser.add_argument("--out", type=Path, default=OUT_PATH, help="markdown output file")
    args = parser.parse_args(argv)
    # The pipeline stages' warnings (e.g. post-outcome activity types) are the validate report's business.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if not Path("params.yaml").exists():
        print(
            "benchmarks.batch: error: run from the repository root (params.yaml not found)", file=sys.stderr
        )
        return 2

    from benchmarks.quality import run_product
    from leadscore.features.build import build_features, leads_from_frame
    from leadscore.features.intent import activity_columns
    from leadscore.models.bundle import ScoringBundle
    from leadscore.pipelines.pull import pull

    params = _simulated_params(args.n_leads)
    try:
        with tempfile.TemporaryDirectory(prefix="leadscore-bench-batch-") as tmp:
            work = Path(tmp)
            location = args.model or _project_model(params)
            if location is not None:
                bundle = ScoringBundle.load(location)
                model = f"`{location}`"
                pull(params, work / "interim")
            else:
                run_product(params, work)
                bundle = ScoringBundle.load(work / "model")
                model = f"trained here on the same {params.simulate.n_leads:,}-lead export (pipeline stages)"
            leads = pd.read_parquet(work / "interim" / "leads.parquet")
            activities = pd.read_parquet(work / "interim" / "activities.parquet")
    except LeadscoreError as exc:
        print(f"benchmarks.batch: error: {exc}", file=sys.stderr)
        return 2

    batch = build_features(leads_from_frame(leads, bundle.spec), bundle.spec, activity_columns(activities))
    X = np.ascontiguousarray(bundle.transformer.transform(batch.features))
    booster = bundle.booster
    threads = params.train.num_threads
    timings = [
        measure(
            "`bundle.score` without reasons (leads + activity log -> features -> probability, band)",
            lambda: bundle.score(leads, activities, with_reasons=False),
            args.repeats,
        ),
        measure(
            "`bundle.score` with reasons (+ top 3 positive and negative reasons per lead)",
            lambda: bundle.score(leads, activities, with_reasons=True),
            args.repeats,
        ),
        measure(
            "features only (`build_features` + transform, no model)",
            lambda: bundle.transformer.transform(
                build_features(
                    leads_from_frame(leads, bundle.spec), bundle.spec, activity_columns(activities)
                ).features
            ),
            args.repeats,
        ),
    ]
    raw = measure(
        "raw `Booster.predict` on the model matrix of the same rows",
        lambda: booster.predict(X, raw_score=True),
        args.repeats,
    )
    text = (
        "## Batch scoring\n\nReproduce: `python -m benchmarks.run batch`\n\n"
        + markdown(len(leads), timings, raw, threads, model)
        + f"\n- activity events scored with the leads: {len(activities):,}\n"
    )
    publish(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
