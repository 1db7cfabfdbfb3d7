"""The quarterly report HTML in a real browser: Debian's headless Chromium renders it without console errors
and the screenshot is not blank. Skipped (with the reason) only where chromium is not installed; `.ci/run`
installs it.

Console messages are read from Chromium's own log (``--enable-logging=stderr``), where every message a page
writes to the console, and every uncaught error, appears as an ``INFO:CONSOLE`` line. The report has no
scripts, so any such line is a failure; a control page with a deliberate error proves the check can fail.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from benchmarks.report import AS_OF, synthetic_scored
from leadscore.core.params import ReportParams
from leadscore.reporting.quarterly import build_quarterly_report
from leadscore.reporting.render import write_report

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run installs it)"
)


def render(page: Path, tmp_path: Path, size: str = "1280,2000") -> tuple[np.ndarray, list[str]]:
    """Screenshot ``page`` with headless Chromium; returns the RGB pixels and the console lines it logged."""
    shot = tmp_path / f"{page.stem}.png"
    result = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            f"--window-size={size}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shot.exists(), result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return imread(shot)[..., :3], console


def test_console_check_catches_a_page_error(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><body><p>x</p><script>console.error('boom'); nope();</script></body></html>"
    )
    _, console = render(page, tmp_path, "400,300")
    assert any("boom" in line for line in console)
    assert any("ReferenceError" in line for line in console)


def test_report_renders_without_console_errors_and_is_not_blank(tmp_path: Path) -> None:
    scored = synthetic_scored(8000, seed=3)
    reference = synthetic_scored(3000, seed=4)
    params = ReportParams(bootstrap_samples=30)
    report = build_quarterly_report(scored, "2025Q4", params, reference=reference, as_of=AS_OF, seed=0)
    written = write_report(report, tmp_path / "report")
    pixels, console = render(written["html"], tmp_path)
    assert console == []
    # Not blank: a good share of the page is drawn (text, tables, figures), with dark text and coloured plots.
    not_white = (pixels < 0.97).any(axis=2)
    assert not_white.mean() > 0.05
    assert (pixels.max(axis=2) < 0.3).mean() > 0.002  # dark text
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    assert (saturation > 0.25).mean() > 0.0003  # coloured lines and markers of the figures
