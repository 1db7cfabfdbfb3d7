"""``leadscore score``: score a CSV/Parquet CRM export with a bundle or the registered champion.

The command's options and its run; the work (mapping the export, scoring in chunks, writing the file) is
``leadscore.models.batch``'s, so the numbers are the API's and evaluation's numbers.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from leadscore.cli.models import add_tracking_arguments
from leadscore.core.errors import ConfigError
from leadscore.core.params import Mapping
from leadscore.models.batch import (
    DEFAULT_MODEL,
    OUTPUT_SUFFIXES,
    canonical_export,
    load_model,
    parse_as_of,
    score_in_chunks,
    write_scores,
)
from leadscore.models.bundle import ScoringBundle

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``leadscore score``."""
    parser.add_argument("input", type=Path, metavar="IN", help="leads export (.csv or .parquet)")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, metavar="OUT", help="scores (.csv or .parquet)"
    )
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"bundle directory or MLflow model URI (default {DEFAULT_MODEL})",
    )
    add_tracking_arguments(parser)
    parser.add_argument(
        "--activities", type=Path, help="activity log export (.csv or .parquet) for intent features"
    )
    parser.add_argument(
        "--as-of", help="score every lead as of this time (ISO 8601, UTC; default: created_at + offset)"
    )
    parser.add_argument("--no-reasons", action="store_true", help="skip per-lead reasons (much faster)")
    parser.add_argument(
        "--top-reasons",
        type=int,
        help="reasons per direction (default: the evaluate.top_reasons the model was trained with, or 3)",
    )
    parser.add_argument(
        "--mapping",
        type=Path,
        metavar="PARAMS_YAML",
        help="map export columns with source.mapping of this params file",
    )
    parser.add_argument(
        "--chunk-size", type=int, default=20_000, help="leads per scoring chunk (default 20000)"
    )


def run(args: argparse.Namespace) -> int:
    """Score the export and write the result; returns the exit code."""
    from leadscore.crm.sources import read_table_file

    _check_output_path(args.output)
    if args.chunk_size < 1:
        raise ConfigError("--chunk-size must be at least 1")
    if args.top_reasons is not None and not 1 <= args.top_reasons <= 10:
        raise ConfigError("--top-reasons must be between 1 and 10")
    as_of = parse_as_of(args.as_of)
    # Read the inputs before loading the model: a wrong path fails in a second, not after an MLflow import.
    raw_leads = read_table_file(args.input)
    raw_activities = read_table_file(args.activities) if args.activities is not None else None
    bundle = load_model(args.model, args.tracking_uri)
    mapping = _mapping(bundle, args.mapping)
    leads, activities = canonical_export(raw_leads, raw_activities, mapping, as_of=as_of)
    scored = score_in_chunks(
        bundle,
        leads,
        activities,
        as_of=as_of,
        with_reasons=not args.no_reasons,
        top_reasons=args.top_reasons or int(bundle.metadata.get("top_reasons", 3)),
        chunk_size=args.chunk_size,
        progress=sys.stderr.isatty(),
    )
    write_scores(scored, args.output)
    logger.info("scored %d leads with model %s -> %s", len(scored), bundle.version[:12], args.output)
    return 0


def _check_output_path(path: Path) -> None:
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError(f"unsupported output file type {path.suffix!r} (use .csv or .parquet): {path}")
    if path.is_dir():
        raise ConfigError(f"output path is a directory: {path}")


def _mapping(bundle: ScoringBundle, params_path: Path | None) -> Mapping:
    """The export mapping: from the given params file, else the one stored in the bundle at training time."""
    if params_path is not None:
        from leadscore.core.params import load_params

        return load_params(params_path).source.mapping
    stored = bundle.metadata.get("mapping")
    if not stored:
        raise ConfigError("the model carries no export mapping; pass --mapping params.yaml")
    try:
        return Mapping.model_validate(stored)
    except ValueError as exc:
        raise ConfigError(f"the mapping stored in the model is invalid: {str(exc).splitlines()[0]}") from None
