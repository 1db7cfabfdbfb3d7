"""``leadscore simulate``: write a simulated CRM export to files or SQLite (to try the files/sql sources)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pydantic import ValidationError

from leadscore.core.errors import ConfigError
from leadscore.core.params import SimulateParams, load_params
from leadscore.crm.simulator import simulate_crm, write_export

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``leadscore simulate``."""
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="directory for leads.<fmt> and activities.<fmt>")
    target.add_argument(
        "--sqlite", type=Path, help="SQLite file; tables 'leads' and 'activities' are replaced"
    )
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv", help="file format for --out")
    parser.add_argument("--params", type=Path, help="take the simulate/base sections from this params.yaml")
    parser.add_argument("--n-leads", type=int, help="number of leads (default: params or 50000)")
    parser.add_argument("--seed", type=int, help="random seed (default: base.seed or 42)")
    parser.add_argument(
        "--as-of-offset-days", type=int, help="scoring moment that true_p refers to (default 14)"
    )


def run(args: argparse.Namespace) -> int:
    """Simulate and write the export; returns the exit code."""
    if args.params is not None:
        params = load_params(args.params)
        simulate, seed, offset = params.simulate, params.base.seed, params.base.as_of_offset_days
    else:
        simulate, seed, offset = SimulateParams(), 42, 14
    if args.n_leads is not None:
        try:
            simulate = SimulateParams.model_validate({**simulate.model_dump(), "n_leads": args.n_leads})
        except ValidationError as exc:
            raise ConfigError(f"--n-leads: {exc.errors(include_url=False)[0]['msg']}") from None
    seed = args.seed if args.seed is not None else seed
    offset = args.as_of_offset_days if args.as_of_offset_days is not None else offset
    if offset < 0:
        raise ConfigError("--as-of-offset-days must be >= 0")
    export = simulate_crm(simulate, seed=seed, as_of_offset_days=offset)
    if args.sqlite is not None:
        args.sqlite.parent.mkdir(parents=True, exist_ok=True)
        written = write_export(export, f"sqlite:///{args.sqlite}")
    else:
        written = write_export(export, args.out, file_format=args.format)
    logger.info(
        "wrote %d leads and %d activities: %s", len(export.leads), len(export.activities), ", ".join(written)
    )
    return 0
