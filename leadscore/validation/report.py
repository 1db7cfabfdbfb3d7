"""What the validation gate found, in a form people (one line per problem) and machines (JSON) can read."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

from leadscore.validation.leakage import LeakSuspect

# The summary line on stderr names this many problems; summary.json always has all of them.
_MAX_PROBLEMS_IN_LINE = 6


@dataclass(frozen=True)
class ValidationFailure:
    """One problem that stops training.

    Attributes:
        check: short rule id (``unique``, ``closed_after_created``, ``leakage`` ...), stable for tooling.
        column: the column (``activities.lead_id`` for the activity log, ``leads`` for table-level rules).
        message: what is wrong with figures and examples, without the column name.
        count: offending rows/values when countable.
        export_column: the export's own name for the column when it differs (``CreatedDate``), so the owner
            of the export finds it without reading the mapping.
    """

    check: str
    column: str
    message: str
    count: int | None = None
    export_column: str | None = None

    @property
    def line(self) -> str:
        """The readable one-liner: ``created_at (export column 'CreatedDate'): 3 unparseable values``."""
        where = self.column
        if self.export_column and self.export_column != self.column:
            where = f"{self.column} (export column {self.export_column!r})"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"check": self.check, "column": self.column, "export_column": self.export_column,
                "message": self.message, "count": self.count, "line": self.line}  # fmt: skip


@dataclass
class ValidationReport:
    """Outcome of :func:`leadscore.validation.gate.validate_leads`.

    Attributes:
        success: True when nothing stops training (warnings may remain).
        failures: problems that stop training, one readable line each.
        warnings: things worth knowing that do not stop training (allowed leaks, post-outcome activity types).
        counts: rows, classes, activities, columns: the figures the checks were judged on.
        leak_suspects: every leakage finding, blocking or not.
        excluded: blocking suspects dropped from the features (``validate.leakage.action: exclude``); the
            featurize stage reads them from summary.json ``excluded_columns``.
        gx: Great Expectations ``describe_dict()`` per suite (``leads``, ``activities``).
        elapsed_seconds: wall time of the whole gate.
    """

    success: bool
    failures: list[ValidationFailure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    leak_suspects: list[LeakSuspect] = field(default_factory=list)
    excluded: list[LeakSuspect] = field(default_factory=list)
    gx: dict[str, Any] = field(default_factory=dict)
    elapsed_seconds: float = 0.0

    @property
    def lines(self) -> list[str]:
        """One readable line per failure."""
        return [f.line for f in self.failures]

    @property
    def only_leakage(self) -> bool:
        """True when every failure is a leakage suspect (the entry point raises LeakageError then)."""
        return bool(self.failures) and all(f.check == "leakage" for f in self.failures)

    def summary_line(self) -> str:
        """The single line for stderr: how many problems and the first few of them."""
        if self.success:
            dropped = f", excluded as leaky: {', '.join(self.excluded_names)}" if self.excluded else ""
            return f"validation passed ({len(self.warnings)} warnings{dropped})"
        lines = self.lines
        shown = "; ".join(lines[:_MAX_PROBLEMS_IN_LINE])
        more = len(lines) - _MAX_PROBLEMS_IN_LINE
        tail = f"; ... and {more} more (see reports/validation/summary.json)" if more > 0 else ""
        noun = "problem" if len(lines) == 1 else "problems"
        return f"validation failed: {len(lines)} {noun}: {shown}{tail}"

    @property
    def excluded_names(self) -> list[str]:
        """Names of the excluded suspects (columns, or ``activity:<type>``)."""
        return [s.name for s in self.excluded]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the GX results are written separately: they are large)."""
        return {
            "success": self.success,
            "summary": self.summary_line(),
            "failures": [f.as_dict() for f in self.failures],
            "warnings": list(self.warnings),
            "counts": self.counts,
            "leak_suspects": [s.as_dict() for s in self.leak_suspects],
            "excluded_columns": [
                {"name": s.name, "kind": s.kind, "evidence": s.evidence} for s in self.excluded
            ],
            "gx_statistics": {name: result.get("statistics", {}) for name, result in self.gx.items()},
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }

    def to_json(self) -> str:
        """summary.json content."""
        return json.dumps(self.as_dict(), indent=2, default=str) + "\n"

    def gx_json(self) -> str:
        """The full GX results (describe_dict per suite) as JSON."""
        return json.dumps(self.gx, indent=2, default=str) + "\n"


def render_html(report: ValidationReport, title: str = "leadscore validation") -> str:
    """A small self-contained HTML page (inline CSS, no scripts, no CDN) for people who open the report."""
    esc = html.escape
    status = "PASSED" if report.success else "FAILED"
    colour = "#1a7f37" if report.success else "#cf222e"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>",
        "body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#1f2328}",
        "table{border-collapse:collapse;margin:.5rem 0 1.5rem}"
        "td,th{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left;vertical-align:top}"
        "th{background:#f6f8fa}.ok{color:#1a7f37}.bad{color:#cf222e}"
        ".warn{color:#9a6700}code{background:#f6f8fa;padding:0 .2rem}",
        "</style></head><body>",
        f"<h1>{esc(title)}: <span style='color:{colour}'>{status}</span></h1>",
        f"<p>{esc(report.summary_line())}</p>",
        "<h2>Counts</h2><table>",
    ]
    for key, value in report.counts.items():
        shown = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
        parts.append(f"<tr><th>{esc(str(key))}</th><td>{esc(shown)}</td></tr>")
    parts.append("</table>")
    parts.append(f"<h2>Failures ({len(report.failures)})</h2>")
    if report.failures:
        parts.append("<table><tr><th>column</th><th>check</th><th>problem</th></tr>")
        for failure in report.failures:
            parts.append(
                f"<tr class='bad'><td><code>{esc(failure.column)}</code></td><td>{esc(failure.check)}</td>"
                f"<td>{esc(failure.message)}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p class='ok'>none</p>")
    parts.append(f"<h2>Warnings ({len(report.warnings)})</h2><ul>")
    parts.extend(f"<li class='warn'>{esc(w)}</li>" for w in report.warnings)
    parts.append("</ul>")
    parts.append(f"<h2>Leakage suspects ({len(report.leak_suspects)})</h2>")
    if report.leak_suspects:
        parts.append("<table><tr><th>name</th><th>kind</th><th>verdict</th><th>evidence</th></tr>")
        for suspect in report.leak_suspects:
            if suspect in report.excluded:
                verdict = "excluded"
            else:
                verdict = "fails gate" if suspect.fails_gate else ("allowed" if suspect.allowed else "info")
            css = "bad" if suspect.fails_gate else "warn"
            parts.append(
                f"<tr class='{css}'><td><code>{esc(suspect.name)}</code></td><td>{esc(suspect.kind)}</td>"
                f"<td>{verdict}</td><td>{esc(suspect.evidence)}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p class='ok'>none</p>")
    for suite, result in report.gx.items():
        parts.append(f"<h2>Great Expectations: {esc(suite)}</h2><table>")
        parts.append("<tr><th>expectation</th><th>column</th><th>success</th><th>unexpected</th></tr>")
        for item in result.get("expectations", []):
            kwargs = item.get("kwargs", {})
            column = kwargs.get("column") or (
                f"{kwargs.get('column_A')} >= {kwargs.get('column_B')}" if "column_A" in kwargs else "(table)"
            )
            res = item.get("result", {})
            unexpected = res.get("unexpected_count", res.get("observed_value", ""))
            css = "ok" if item.get("success") else "bad"
            parts.append(
                f"<tr class='{css}'><td>{esc(str(item.get('expectation_type')))}</td>"
                f"<td>{esc(str(column))}</td>"
                f"<td>{item.get('success')}</td><td>{esc(str(unexpected))}</td></tr>"
            )
        parts.append("</table>")
    parts.append(f"<p>Checked in {report.elapsed_seconds:.2f} s.</p></body></html>\n")
    return "".join(parts)
