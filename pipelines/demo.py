"""The README's main job (``make run``): the whole product once, end to end, on the embedded simulated CRM.

1. ``dvc repro``: the real pipeline (simulated CRM -> pull -> validate -> featurize -> train -> evaluate ->
   register champion -> quarterly report). DVC skips what is up to date, so a second run takes seconds.
2. Prints the test-period metrics and the champion version from the stages' own outputs.
3. Starts the real scoring service (``leadscore serve``: uvicorn on 127.0.0.1, a free port) with a freshly
   created API key (only its hash is written, under the gitignored ``.leadscore/``), waits for readiness,
   scores one test-period lead and a batch, posts the outcomes the CRM recorded for them, reads
   ``/v1/accuracy`` and the service's own report (``/v1/report``), and stops the service cleanly.
4. Ends with the paths of the quarterly report (HTML + JSON) and the metrics.

The demo talks to the service over HTTP exactly as a CRM would: nothing here imports the app. Leads are sent
without contact fields and nothing printed identifies a person (lead ids and figures only).

Why the outcomes are posted with ``closed_at`` = now: the service only counts an outcome against a score made
no later than the close (a score made after it could have seen the outcome coming). The demo scores historical
test-period leads seconds before posting their recorded outcomes, so the close must be "now" to count.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from leadscore.core import canonical
from leadscore.core.errors import LeadscoreError
from leadscore.core.logs import configure_logging
from leadscore.core.params import load_params

logger = logging.getLogger("leadscore.pipelines.demo")

# Quiet third-party telemetry for every child process (dvc, mlflow, GX), as the Makefile does.
QUIET_ENV = {
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "False",
    "MLFLOW_ENABLE_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
}
STATE_DIR = Path(".leadscore")  # gitignored: demo keys file and prediction log
KEY_METRICS = ("auc", "bayes_auc", "pr_auc", "base_rate", "brier", "log_loss", "ece", "ks", "top_decile_lift")


class DemoError(LeadscoreError):
    """A demo step failed; the message is the one line the user sees."""


@dataclass
class DemoResult:
    """What the final summary prints (figures and paths only, no PII)."""

    metrics: dict[str, Any] = field(default_factory=dict)
    registry: dict[str, Any] = field(default_factory=dict)
    single: dict[str, Any] = field(default_factory=dict)
    batch: dict[str, Any] = field(default_factory=dict)
    outcomes: dict[str, Any] = field(default_factory=dict)
    accuracy: dict[str, Any] = field(default_factory=dict)
    report_html: Path | None = None
    report_json: Path | None = None
    service_report: Path | None = None
    metrics_path: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------
# step 1-2: the pipeline and its outputs
# ----------------------------------------------------------------------------------------------------
def tool(name: str) -> str:
    """Path of a console script of this environment (dvc, leadscore), falling back to PATH."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Child process environment: this venv first on PATH (DVC stages call ``python``), telemetry off."""
    env = {**os.environ, **QUIET_ENV, **(extra or {})}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def last_lines(text: str, n: int = 8) -> str:
    """The last ``n`` non-empty lines of a process output, joined with ' | ' for a one-line error."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:]) or "(no output)"


def run_repro(root: Path, timeout: float) -> None:
    """``dvc repro`` in ``root``; its output streams through so a long first run shows progress.

    Raises:
        DemoError: non-zero exit, with the last lines of its stderr (where the stages' one-line errors go).
    """
    logger.info("dvc repro (first run: simulate, validate, train, evaluate, register, report; minutes)")
    try:
        proc = subprocess.run(
            [tool("dvc"), "repro"],
            cwd=root,
            env=child_env(),
            stdout=None,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise DemoError("dvc is not installed in this environment (run `make install`)") from None
    except subprocess.TimeoutExpired:
        raise DemoError(f"dvc repro did not finish within {timeout:.0f} s") from None
    if proc.stderr:
        sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        raise DemoError(f"dvc repro failed (exit {proc.returncode}): {last_lines(proc.stderr)}")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON output of a stage, or DemoError naming it."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DemoError(f"{path} not found after dvc repro (is the stage in dvc.yaml?)") from None
    except json.JSONDecodeError as exc:
        raise DemoError(f"{path} is not valid JSON: {exc}") from None


def latest_report(directory: Path) -> tuple[Path, Path]:
    """The newest quarterly report HTML and its JSON twin."""
    htmls = sorted(directory.glob("*.html"), key=lambda p: p.stat().st_mtime)
    if not htmls:
        raise DemoError(f"no quarterly report in {directory} after dvc repro")
    html = htmls[-1]
    twin = html.with_suffix(".json")
    if not twin.exists():
        raise DemoError(f"{html} has no JSON twin {twin.name}")
    return html, twin


# ----------------------------------------------------------------------------------------------------
# step 3: the service
# ----------------------------------------------------------------------------------------------------
def free_port() -> int:
    """A port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def create_demo_key(keys_file: Path) -> tuple[str, str]:
    """A new API key named ``demo-<utc time>`` in ``keys_file`` (hash only on disk); returns (name, key)."""
    from leadscore.serving.auth import create_key

    name = "demo-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    return name, create_key(keys_file, name)


@contextlib.contextmanager
def running_service(
    root: Path, port: int, env: dict[str, str], ready_timeout: float, log_path: Path
) -> Iterator[str]:
    """Run ``leadscore serve`` until the block ends; yields its base URL once /health/ready is 200.

    The server's own log goes to ``log_path`` (it has no PII: keys and contact fields are never logged).

    Raises:
        DemoError: the process exits or does not get ready in time (with the last lines of its log).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [tool("leadscore"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=root,
            env=child_env(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(proc, url, ready_timeout, log_path)
            yield url
        finally:
            stop(proc)
    logger.info("service stopped (exit %s)", proc.returncode)


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float, log_path: Path) -> None:
    """Poll /health/ready until 200, the process dies, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise DemoError(
                    f"the service exited with code {proc.returncode}: {last_lines(log_path.read_text(), 4)}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if client.get("/health/ready").status_code == 200:
                    return
            time.sleep(0.25)
    raise DemoError(
        f"the service was not ready within {timeout:.0f} s: {last_lines(log_path.read_text(), 4)}"
    )


def stop(proc: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGINT (uvicorn's graceful shutdown drains the prediction log), then SIGKILL if it hangs."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        logger.warning("the service did not stop within %.0f s; killing it", grace)
        proc.kill()
        proc.wait()


# ----------------------------------------------------------------------------------------------------
# step 3: what a CRM sends
# ----------------------------------------------------------------------------------------------------
def _iso(value: Any) -> str:
    return pd.Timestamp(value).isoformat()


def _plain(value: Any) -> Any:
    """JSON value of a cell: NaN/NaT -> None, numpy scalars -> Python; numbers stay numbers."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def lead_payloads(
    leads: pd.DataFrame, activities: pd.DataFrame | None, as_of_offset_days: int
) -> list[dict[str, Any]]:
    """API bodies for ``leads``: canonical fields, the activities up to each lead's scoring moment, as_of.

    Contact fields are never sent (the API would drop them anyway). Each lead is scored as of its own scoring
    moment (created_at + the training offset), as the pipeline scored it, so the scores match the backtest.
    """
    by_lead: dict[str, list[dict[str, Any]]] = {}
    as_of = pd.to_datetime(leads[canonical.CREATED_AT]) + pd.Timedelta(days=as_of_offset_days)
    cutoff = dict(zip(leads[canonical.LEAD_ID].astype(str), as_of, strict=True))
    if activities is not None and len(activities):
        acts = activities[activities[canonical.ACTIVITY_LEAD_ID].astype(str).isin(cutoff)]
        for lead_id, at, kind in zip(
            acts[canonical.ACTIVITY_LEAD_ID].astype(str),
            pd.to_datetime(acts[canonical.ACTIVITY_AT]),
            acts[canonical.ACTIVITY_TYPE].astype(str),
            strict=True,
        ):
            if at <= cutoff[lead_id]:
                by_lead.setdefault(lead_id, []).append({"occurred_at": _iso(at), "activity_type": kind})
    payloads = []
    for row, moment in zip(leads.to_dict("records"), as_of, strict=True):
        lead_id = str(row[canonical.LEAD_ID])
        body: dict[str, Any] = {"lead_id": lead_id, "created_at": _iso(row[canonical.CREATED_AT])}
        for column in canonical.ROLE_COLUMNS:
            if column in row:
                value = _plain(row[column])
                if column in ("employees", "annual_revenue", "founded_year") and value is not None:
                    value = float(value)
                body[column] = value
        body["as_of"] = _iso(moment)
        body["activities"] = by_lead.get(lead_id, [])
        payloads.append(body)
    return payloads


def sample_test_leads(root: Path, n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``n`` closed (won/lost) leads of the out-of-time test period (drawn with ``seed``) and activities."""
    from leadscore.pipelines.evaluate import EvaluatePaths, load_test_period

    paths = EvaluatePaths(interim=root / "data" / "interim", processed=root / "data" / "processed")
    try:
        leads, activities, _ = load_test_period(paths)
    except LeadscoreError as exc:
        raise DemoError(f"cannot read the test period: {exc}") from None
    closed = leads[leads[canonical.LABEL].isin([0, 1])]
    if len(closed) < n:
        raise DemoError(f"the test period has only {len(closed)} closed leads; the demo needs {n}")
    sample = closed.sample(n=n, random_state=seed).reset_index(drop=True)
    return sample, activities


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise DemoError(f"{method} {path} failed: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        detail = response.text[:300].replace("\n", " ")
        raise DemoError(f"{method} {path} answered {response.status_code}: {detail}")
    return response.json()


def exercise_service(
    url: str,
    key: str,
    leads: pd.DataFrame,
    payloads: list[dict[str, Any]],
    result: DemoResult,
    service_report_path: Path,
) -> None:
    """Score one lead and the rest as a batch, post their recorded outcomes, read the report and accuracy.

    The service's own report (GET /v1/report, this quarter) covers only the demo's leads, scored seconds
    ago: every cohort is immature, so it shows the label-free estimates; it is saved to
    ``service_report_path``.
    """
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60.0) as client:
        one = _call(client, "POST", "/v1/score", json=payloads[0])
        result.single = {
            k: one[k] for k in ("lead_id", "probability", "score", "band", "is_mql", "model_version")
        }
        result.single["reasons_positive"] = [r["label"] for r in one.get("reasons_positive", [])]
        result.single["reasons_negative"] = [r["label"] for r in one.get("reasons_negative", [])]
        started = time.perf_counter()
        many = _call(client, "POST", "/v1/score/batch", json={"leads": payloads[1:]})
        elapsed = time.perf_counter() - started
        bands = pd.Series([r["band"] for r in many["results"]]).value_counts().sort_index()
        result.batch = {
            "count": many["count"],
            "seconds": round(elapsed, 3),
            "bands": {str(k): int(v) for k, v in bands.items()},
            "mean_probability": float(np.mean([r["probability"] for r in many["results"]])),
        }
        closed_at = datetime.now(UTC).isoformat()
        outcomes = [
            {"lead_id": str(lead_id), "outcome": "won" if label == 1 else "lost", "closed_at": closed_at}
            for lead_id, label in zip(leads[canonical.LEAD_ID], leads[canonical.LABEL], strict=True)
        ]
        posted = _call(client, "POST", "/v1/outcomes", json={"outcomes": outcomes})
        result.outcomes = {k: posted[k] for k in ("received", "inserted", "updated", "unchanged")}
        result.outcomes["unknown"] = len(posted["unknown_lead_ids"])
        quarter = str(pd.Timestamp.now(tz="UTC").to_period("Q"))
        page = client.get("/v1/report", params={"quarter": quarter, "format": "html"})
        if page.status_code != 200:
            raise DemoError(f"GET /v1/report answered {page.status_code}: {page.text[:300]}")
        result.service_report = service_report_path
        service_report_path.write_text(page.text, encoding="utf-8")
        accuracy = _call(client, "GET", "/v1/accuracy")
        realized = accuracy.get("realized") or {}
        result.accuracy = {
            "scored_leads": accuracy.get("scored_leads"),
            "status": realized.get("status"),
            "n": realized.get("n"),
            "auc": realized.get("auc"),
            "brier": realized.get("brier"),
            "base_rate": realized.get("base_rate"),
            "mean_predicted": realized.get("mean_predicted"),
        }


# ----------------------------------------------------------------------------------------------------
# the job
# ----------------------------------------------------------------------------------------------------
def run_demo(
    root: Path,
    *,
    params_path: Path,
    n_sample: int = 200,
    repro: bool = True,
    repro_timeout: float = 3600.0,
    ready_timeout: float = 180.0,
) -> DemoResult:
    """Steps 1-4 of the module docstring, in ``root`` (the project directory); returns what to print."""
    result = DemoResult()
    params = load_params(root / params_path)
    started = time.perf_counter()
    if repro:
        run_repro(root, repro_timeout)
    result.seconds["dvc_repro"] = round(time.perf_counter() - started, 1)

    result.metrics_path = root / "reports" / "metrics.json"
    result.metrics = read_json(result.metrics_path)
    result.registry = read_json(root / "reports" / "registry.json")
    result.report_html, result.report_json = latest_report(root / "reports" / "quarterly")
    logger.info(
        "champion: %s v%s (this run: v%s -> %s)",
        result.registry.get("name"),
        result.registry.get("champion_version"),
        result.registry.get("version"),
        result.registry.get("alias"),
    )

    state = root / STATE_DIR
    keys_file = state / "demo_api_keys.json"
    key_name, key = create_demo_key(keys_file)
    logger.info("created API key %r (hash only) in %s", key_name, keys_file)
    tracking_uri = str(result.registry.get("tracking_uri") or params.registry.tracking_uri)
    env = {
        "LEADSCORE_API_KEYS_FILE": str(keys_file),
        "LEADSCORE_DATABASE_URL": f"sqlite:///{state / 'demo-predictions.db'}",
        "LEADSCORE_MODEL_URI": f"models:/{params.registry.model_name}@champion",
        "LEADSCORE_TRACKING_URI": tracking_uri,
        "LEADSCORE_RELOAD_POLL_SECONDS": "0",
    }
    leads, activities = sample_test_leads(root, n_sample, params.base.seed)
    payloads = lead_payloads(leads, activities, params.base.as_of_offset_days)
    port = free_port()
    service_started = time.perf_counter()
    with running_service(root, port, env, ready_timeout, state / "demo-service.log") as url:
        logger.info("service ready on %s in %.1f s", url, time.perf_counter() - service_started)
        exercise_service(url, key, leads, payloads, result, state / "demo-service-report.html")
    result.seconds["service"] = round(time.perf_counter() - service_started, 1)
    result.seconds["total"] = round(time.perf_counter() - started, 1)
    return result


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "n/a" if value is None else str(value)


def summary_lines(result: DemoResult, root: Path) -> list[str]:
    """The final summary: metrics, champion, service results and where the report is (relative paths)."""

    def rel(path: Path | None) -> str:
        if path is None:
            return "n/a"
        with contextlib.suppress(ValueError):
            return str(path.resolve().relative_to(root.resolve()))
        return str(path)

    m, reg = result.metrics, result.registry
    lines = ["", "== leadscore demo =="]
    lines.append(
        "test period: "
        + ", ".join(f"{k} {_fmt(m[k])}" for k in KEY_METRICS if k in m)
        + f" (n {m.get('n_test')})"
    )
    lines.append(
        f"champion: {reg.get('name')} v{reg.get('champion_version')} "
        f"(this run registered v{reg.get('version')} as {reg.get('alias')})"
    )
    s = result.single
    lines.append(
        f"scored lead {s.get('lead_id')}: probability {_fmt(s.get('probability'))}, score {s.get('score')}, "
        f"band {s.get('band')}, MQL {s.get('is_mql')}; + {', '.join(s.get('reasons_positive', [])) or '-'}; "
        f"- {', '.join(s.get('reasons_negative', [])) or '-'}"
    )
    b = result.batch
    lines.append(
        f"batch: {b.get('count')} leads in {b.get('seconds')} s, bands {b.get('bands')}, "
        f"mean probability {_fmt(b.get('mean_probability'))}"
    )
    o = result.outcomes
    lines.append(
        f"outcomes posted: {o.get('received')} (inserted {o.get('inserted')}, updated {o.get('updated')}, "
        f"unknown {o.get('unknown')})"
    )
    a = result.accuracy
    lines.append(
        f"/v1/accuracy: {a.get('status')} on {a.get('n')} leads: AUC {_fmt(a.get('auc'))}, "
        f"Brier {_fmt(a.get('brier'))}, conversion {_fmt(a.get('base_rate'))} vs predicted "
        f"{_fmt(a.get('mean_predicted'))}"
    )
    lines.append(f"quarterly report: {rel(result.report_html)} (JSON: {rel(result.report_json)})")
    lines.append(
        f"service's report of this quarter's demo scores (GET /v1/report): {rel(result.service_report)}"
    )
    lines.append(f"metrics: {rel(result.metrics_path)} (also `dvc metrics show`)")
    lines.append(f"timings (s): {result.seconds}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the demo module; 0 on success, 2 with one line on a failed step."""
    parser = argparse.ArgumentParser(
        prog="python -m leadscore.pipelines.demo", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="project directory (default: here)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file in --root")
    parser.add_argument("--sample", type=int, default=200, help="test-period leads sent to the service")
    parser.add_argument("--no-repro", action="store_true", help="use the existing pipeline outputs")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    if args.sample < 2:
        print("demo: error: --sample must be at least 2", file=sys.stderr)  # noqa: T201
        return 2
    root = args.root.resolve()
    try:
        result = run_demo(root, params_path=args.params, n_sample=args.sample, repro=not args.no_repro)
    except LeadscoreError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)  # noqa: T201 - the one readable line
        return 2
    except KeyboardInterrupt:
        return 130
    print("\n".join(summary_lines(result, root)))  # noqa: T201 - the job's final summary
    return 0


if __name__ == "__main__":
    sys.exit(main())
