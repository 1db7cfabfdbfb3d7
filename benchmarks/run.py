"""Benchmark dispatcher: ``python -m benchmarks.run [all|pipeline|batch|service|report|quality] [args...]``.

``make bench`` runs ``python -m benchmarks.run`` (= all). Each benchmark is a module of this package with a
``main(argv) -> int`` that prints a markdown table and writes it to benchmarks/out/<name>.md. Modules are
imported only when their benchmark runs, so one benchmark's heavy imports do not slow the others; arguments
after the name go to that benchmark only (``all`` passes none).
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Sequence

# Order of `all`: cheap and self-contained first, the long quality comparison last.
BENCHMARKS = ("pipeline", "batch", "service", "report", "quality")


def run_one(name: str, argv: Sequence[str]) -> int:
    """Import benchmarks.<name> and call its ``main(argv)``; returns its exit code."""
    module = importlib.import_module(f"benchmarks.{name}")
    started = time.perf_counter()
    status = module.main(list(argv))
    code = int(status or 0)
    print(f"benchmarks.run: {name}: exit {code} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen benchmark (default all); the exit code is the first failure's, or 0."""
    args = list(sys.argv[1:] if argv is None else argv)
    which = args[0] if args else "all"
    if which in ("-h", "--help"):
        print(__doc__)
        return 0
    if which != "all" and which not in BENCHMARKS:
        print(
            f"benchmarks.run: error: unknown benchmark {which!r}: "
            f"choose all or one of {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    names = BENCHMARKS if which == "all" else (which,)
    rest = [] if which == "all" else args[1:]
    codes = [run_one(name, rest) for name in names]
    failed = [name for name, code in zip(names, codes, strict=True) if code]
    if failed:
        print(f"benchmarks.run: failed: {', '.join(failed)}", file=sys.stderr)
    return next((code for code in codes if code), 0)


if __name__ == "__main__":
    sys.exit(main())
