"""Shared edge behaviour of every DVC stage: parse params once, log, turn domain errors into one line + exit 2."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from leadscore.errors import LeadscoreError
from leadscore.logs import configure_logging
from leadscore.params import Params, load_params


def run_stage(name: str, body: Callable[[Params], None], params_path: str = "params.yaml") -> None:
    """Run one pipeline stage body and exit the process with a clear status.

    DVC stops the pipeline at the first non-zero exit, which is how a failed validation gate keeps training (and
    the champion alias) untouched.
    """
    configure_logging()
    try:
        body(load_params(params_path))
    except LeadscoreError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)  # noqa: T201 - the one readable line for the user
        sys.exit(2)
    logging.getLogger(name).info("%s: done", name)
