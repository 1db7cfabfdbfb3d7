"""Benchmarks: speed and quality figures printed on demand, never timed tests (``make bench``).

``python -m benchmarks.run [all|pipeline|batch|service|report|quality]`` from the repository root; each prints
a markdown table and writes it to ``benchmarks/out/<name>.md`` (gitignored).
"""

from __future__ import annotations

from pathlib import Path


def publish(text: str, path: Path) -> None:
    """Print a benchmark's markdown result and write it to ``path`` (its folder is created)."""
    print(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n")
