"""DVC stage ``fingerprint``: a cheap fingerprint of the CRM export, re-computed on every ``dvc repro``.

Output:
    data/source/fingerprint.json: file hashes, or row counts / latest times / status counts per SQL read
        (``leadscore.crm.fingerprint``). ``pull`` depends on it, so a refreshed export re-runs the pipeline
        and an unchanged one leaves every later stage as it is.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from leadscore.core.params import Params
from leadscore.crm.fingerprint import source_fingerprint

logger = logging.getLogger(__name__)

OUT_FILE = Path("data/source/fingerprint.json")


def write_fingerprint(params: Params, out_file: Path = OUT_FILE) -> dict[str, object]:
    """Compute the export's fingerprint and write it (sorted keys: same data, same bytes)."""
    fingerprint = source_fingerprint(params.source)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(fingerprint, indent=2, sort_keys=True) + "\n")
    logger.info("fingerprint of the %s source -> %s", params.source.kind, out_file)
    return fingerprint


def main() -> None:
    """Entry point for the ``fingerprint`` stage."""
    from leadscore.pipelines._entry import run_stage

    def body(params: Params) -> None:
        write_fingerprint(params)

    run_stage("fingerprint", body)


if __name__ == "__main__":
    main()
