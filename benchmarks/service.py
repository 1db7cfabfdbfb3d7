"""Scoring service benchmark: this API vs ``mlflow models serve`` on the same bundle, in one run.

    python -m benchmarks.service [--model DIR] [--n-leads N] [--duration S] [--repeats K] [--workers 1,2]
                                 [--batch-size N]

Both servers run here on 127.0.0.1 and serve the same ScoringBundle: ours through ``leadscore serve``
(prediction log on, reasons on, API key checked), MLflow's through ``mlflow models serve --env-manager local``
on the pyfunc model that ``leadscore.models.mlflow_model.LeadScorerModel`` wraps around the bundle directory
(the form
the registry logs; its ``predict`` is ``bundle.score`` with reasons). Each server gets the same leads:

* single-lead requests at concurrency 1 and 8: requests/s, p50 and p99 latency;
* batches of ``--batch-size`` leads (one connection): leads/s.

MLflow's pyfunc takes one DataFrame, so leads go to both with their intent pre-aggregated (the counts the
bundle derives from the activity log); our service is also measured with the raw activity list, its usual
input. Before timing, one lead's probability from each server is compared (same model, same number).

Load comes from wrk (Debian package ``wrk``; installed with apt-get when missing and running as root) with a
Lua script that rotates real request bodies and reports latency percentiles; without wrk a Python load
generator (threads, persistent connections) stands in, and the table says so. Load generator and servers
share the machine's cores, so every row also gives the server's CPU time per request (all its processes, from
/proc): it is the figure to compare when other work runs on the machine. Target (issue #3): >= 15x MLflow's
single-lead throughput and p99 <= 10 ms at concurrency 8, on 2 cores, with logging and reasons on.

Results go to stdout and benchmarks/out/service.md (gitignored).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leadscore.core.errors import LeadscoreError

OUT_PATH = Path("benchmarks/out/service.md")
TARGET_RATIO = 15.0
TARGET_P99_MS = 10.0
API_KEY = "lsk_benchmark-key"
N_BODIES = 400
_ENV = {"MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1", "DVC_NO_ANALYTICS": "1"}

WRK_SCRIPT = r"""
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = os.getenv("BENCH_KEY")
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Load:
    """One load run: completed requests, errors, latency percentiles and the server's CPU time."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    server_cpu_s: float

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        """Server CPU (all processes) per completed request."""
        return 1000.0 * self.server_cpu_s / self.requests if self.requests else float("nan")


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    server: str
    scenario: str
    concurrency: int
    load: Load
    leads_per_request: int = 1


# --- servers ------------------------------------------------------------------------------------------------
def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    host, port, path = _split(url)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LeadscoreError(f"server exited with {proc.returncode}: {_tail(log)}")
        try:
            conn = http.client.HTTPConnection(host, port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    raise LeadscoreError(f"server at {url} not ready after {timeout:.0f} s: {_tail(log)}")


def _tail(log: Path) -> str:
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    return lines[-1] if lines else "(no output)"


@contextmanager
def running(
    cmd: list[str], env: dict[str, str], ready_url: str, log: Path, timeout: float = 180.0
) -> Iterator[int]:
    """Run a server in its own process group until the block ends; yields its pid."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            env={**os.environ, **_ENV, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(ready_url, proc, timeout, log)
        yield proc.pid
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its live descendants (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in tree]
        tree.update(children)
        frontier += children
    return sum(cpu.get(p, 0.0) for p in tree)


# --- load generators ----------------------------------------------------------------------------------------
def _split(url: str) -> tuple[str, int, str]:
    rest = url.removeprefix("http://")
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    return host, int(port), "/" + path


def ensure_wrk() -> str | None:
    """Path of wrk, installing Debian's package first when it is missing and we may (root, apt-get)."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("benchmarks.service: wrk missing, installing Debian's package", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], capture_output=True, check=False)
    return shutil.which("wrk")


def run_wrk(
    wrk: str, url: str, bodies: Path, concurrency: int, seconds: float, server_pid: int, script: Path
) -> Load:
    """One wrk run (one thread: it easily drives 8 connections, and leaves the cores to the server)."""
    env = {**os.environ, "BENCH_BODIES": str(bodies), "BENCH_KEY": API_KEY}
    cmd = [wrk, "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "30s", "-s", str(script), url]
    cpu_before = tree_cpu_seconds(server_pid)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    cpu = tree_cpu_seconds(server_pid) - cpu_before
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise LeadscoreError(f"wrk failed: {(out.stderr or out.stdout).strip()[-300:]}")
    requests, duration_us, errors, non2xx, p50_us, p99_us = (int(x) for x in line.split()[1:])
    return Load(requests, duration_us / 1e6, errors + non2xx, p50_us / 1e3, p99_us / 1e3, cpu)


def run_python_load(url: str, bodies: Path, concurrency: int, seconds: float, server_pid: int) -> Load:
    """Fallback load generator: one thread per connection, keep-alive, bodies in rotation."""
    payloads = [line.encode() for line in bodies.read_text().splitlines() if line]
    host, port, path = _split(url)
    headers = {"Content-Type": "application/json", "X-API-Key": API_KEY}
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    stop = time.monotonic() + seconds

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        i = k
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                conn.request("POST", path, body=payloads[i % len(payloads)], headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors[k] += 1
            except OSError:
                errors[k] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
            latencies[k].append(time.perf_counter() - started)
            i += concurrency
        conn.close()

    cpu_before = tree_cpu_seconds(server_pid)
    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    cpu = tree_cpu_seconds(server_pid) - cpu_before
    every = np.concatenate([np.asarray(x) for x in latencies]) * 1e3
    ok = len(every) - sum(errors)
    p50, p99 = np.percentile(every, [50, 99]) if len(every) else (np.nan, np.nan)
    return Load(ok, elapsed, sum(errors), float(p50), float(p99), cpu)


class LoadGenerator:
    """wrk when available, else the Python fallback; ``name`` says which one produced the figures."""

    def __init__(self, work: Path, seconds: float, repeats: int = 1, force_python: bool = False) -> None:
        self.wrk = None if force_python else ensure_wrk()
        self.seconds = seconds
        self.repeats = max(1, repeats)
        self.script = work / "post.lua"
        self.script.write_text(WRK_SCRIPT)
        self.name = (
            "wrk"
            if self.wrk
            else "Python threads, keep-alive (not wrk: its own CPU use makes the figures lower bounds)"
        )

    def run(self, url: str, bodies: Path, concurrency: int, server_pid: int, warm_up: float = 1.0) -> Load:
        """Warm up briefly, then measure ``repeats`` bursts and keep the fastest.

        On a machine shared with other work, the slowest bursts measure the neighbours; the fastest is the
        closest to what the server does on its own (each row still reports that burst's own percentiles).
        """
        self._one(url, bodies, concurrency, server_pid, warm_up)
        bursts = [self._one(url, bodies, concurrency, server_pid, self.seconds) for _ in range(self.repeats)]
        return max(bursts, key=lambda load: load.rate)

    def _one(self, url: str, bodies: Path, concurrency: int, server_pid: int, seconds: float) -> Load:
        if self.wrk:
            return run_wrk(self.wrk, url, bodies, concurrency, seconds, server_pid, self.script)
        return run_python_load(url, bodies, concurrency, seconds, server_pid)


# --- request bodies -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bodies:
    """Request body files (one JSON document per line) for each server and scenario."""

    ours_intent: Path
    ours_activities: Path
    mlflow_single: Path
    ours_batch: Path
    mlflow_batch: Path


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def write_bodies(work: Path, bundle: Any, leads: Any, activities: Any, batch_size: int) -> Bodies:
    """Real leads as request bodies: role fields + pre-aggregated intent (both servers) or raw activities."""
    from leadscore.core import canonical
    from leadscore.features.build import build_features, leads_from_frame
    from leadscore.features.intent import activity_columns

    spec = bundle.spec
    pool = leads.iloc[: max(N_BODIES, batch_size)].reset_index(drop=True)
    batch = build_features(leads_from_frame(pool, spec), spec, activity_columns(activities))
    intent_names = list(spec.intent_feature_names)
    fields = [
        c for c in (canonical.LEAD_ID, canonical.CREATED_AT, *canonical.ROLE_COLUMNS) if c in pool.columns
    ]
    base = [{k: _plain(v) for k, v in r.items()} for r in pool[fields].to_dict(orient="records")]
    intents = [{name: _plain(batch.features[name][i]) for name in intent_names} for i in range(len(pool))]
    events: dict[str, list[dict[str, Any]]] = {}
    for lead_id, at, kind in activities[
        [canonical.ACTIVITY_LEAD_ID, canonical.ACTIVITY_AT, canonical.ACTIVITY_TYPE]
    ].itertuples(index=False):
        events.setdefault(str(lead_id), []).append({"occurred_at": _plain(at), "activity_type": kind})
    counts = [{k: v for k, v in i.items() if v is not None} for i in intents]
    ours_intent = [{**b, "intent": c} for b, c in zip(base, counts, strict=True)]
    ours_activities = [{**b, "activities": events.get(str(b[canonical.LEAD_ID]), [])} for b in base]
    mlflow_rows = [{**b, **i} for b, i in zip(base, intents, strict=True)]

    def lines(name: str, docs: Sequence[Any]) -> Path:
        path = work / f"{name}.jsonl"
        path.write_text("".join(json.dumps(d, separators=(",", ":")) + "\n" for d in docs))
        return path

    n = N_BODIES
    return Bodies(
        ours_intent=lines("ours_intent", ours_intent[:n]),
        ours_activities=lines("ours_activities", ours_activities[:n]),
        mlflow_single=lines("mlflow_single", [{"dataframe_records": [r]} for r in mlflow_rows[:n]]),
        ours_batch=lines("ours_batch", [{"leads": ours_intent[:batch_size]}]),
        mlflow_batch=lines("mlflow_batch", [{"dataframe_records": mlflow_rows[:batch_size]}]),
    )


def _post(url: str, body: bytes) -> Any:
    host, port, path = _split(url)
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json", "X-API-Key": API_KEY})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    if response.status != 200:
        raise LeadscoreError(f"POST {url} answered {response.status}: {data[:300]!r}")
    return json.loads(data)


def first_probability(url: str, bodies: Path, mlflow: bool) -> float:
    """Probability of the first body's lead (sanity check that both servers score the same model)."""
    answer = _post(url, bodies.read_text().splitlines()[0].encode())
    if mlflow:
        rows = answer["predictions"] if isinstance(answer, dict) else answer
        return float(rows[0]["probability"])
    return float(answer["probability"])


# --- the run ------------------------------------------------------------------------------------------------
def prepare_model(args: argparse.Namespace, work: Path) -> tuple[Path, Any, Any, str]:
    """Bundle directory, canonical leads and activities, and a description of the model."""
    import pandas as pd

    from benchmarks.quality import run_product
    from leadscore.core.params import load_params
    from leadscore.pipelines.pull import pull

    params = load_params("params.yaml")
    if args.n_leads:
        params = params.model_copy(
            update={"simulate": params.simulate.model_copy(update={"n_leads": args.n_leads})}
        )
    if args.model is not None:
        pull(params, work / "interim")
        model_dir, model = args.model.resolve(), f"`{args.model}`"
    else:
        run_product(params, work)
        model_dir = work / "model"
        model = f"trained here on a {params.simulate.n_leads:,}-lead simulated export (pipeline stages)"
    leads = pd.read_parquet(work / "interim" / "leads.parquet")
    activities = pd.read_parquet(work / "interim" / "activities.parquet")
    return model_dir, leads, activities, model


def save_pyfunc(bundle_dir: Path, target: Path) -> Path:
    """The bundle as an MLflow pyfunc model directory (the registry's form), for ``mlflow models serve``."""
    import mlflow

    from leadscore.models.mlflow_model import BUNDLE_ARTIFACT, LeadScorerModel

    mlflow.pyfunc.save_model(
        str(target),
        python_model=LeadScorerModel(),
        artifacts={BUNDLE_ARTIFACT: str(bundle_dir)},
        pip_requirements=["mlflow", "lightgbm", "pandas", "scikit-learn"],
    )
    return target


def measure_ours(
    gen: LoadGenerator, bundle_dir: Path, bodies: Bodies, workers: int, work: Path, batch_size: int
) -> tuple[list[Row], float]:
    """Our service, ``workers`` processes: single leads (intent, activities) at c=1 and 8, then a batch."""
    port = free_port()
    env = {
        "LEADSCORE_MODEL_URI": str(bundle_dir),
        "LEADSCORE_DATABASE_URL": f"sqlite:///{work / f'predictions-{workers}.db'}",
        "LEADSCORE_API_KEYS": f"bench:{hashlib.sha256(API_KEY.encode()).hexdigest()}",
        "LEADSCORE_API_KEYS_FILE": str(work / "no-keys.json"),
        "LEADSCORE_PORT": str(port),
        "LEADSCORE_WORKERS": str(workers),
        "LEADSCORE_RELOAD_POLL_SECONDS": "0",
        "LEADSCORE_LOG_LEVEL": "warning",
        "LEADSCORE_MAX_BATCH_SIZE": str(max(batch_size, 1000)),
    }
    base = f"http://127.0.0.1:{port}"
    leadscore = str(Path(sys.executable).parent / "leadscore")
    name = f"leadscore serve, {workers} worker{'s' if workers > 1 else ''}"
    rows = []
    with running([leadscore, "serve"], env, base + "/health/ready", work / f"ours-{workers}.log") as pid:
        probability = first_probability(base + "/v1/score", bodies.ours_intent, mlflow=False)
        for scenario, file in (
            ("1 lead, intent counts", bodies.ours_intent),
            ("1 lead, raw activities", bodies.ours_activities),
        ):
            for c in (1, 8):
                rows.append(Row(name, scenario, c, gen.run(base + "/v1/score", file, c, pid)))
        load = gen.run(base + "/v1/score/batch", bodies.ours_batch, 1, pid)
        rows.append(Row(name, f"batch of {batch_size:,} (intent counts)", 1, load, batch_size))
    return rows, probability


def measure_mlflow(
    gen: LoadGenerator, model_dir: Path, bodies: Bodies, workers: int, work: Path, batch_size: int
) -> tuple[list[Row], float]:
    """``mlflow models serve`` on the pyfunc model: the same scenarios (intent counts only)."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_dir), "--env-manager", "local",
        "-h", "127.0.0.1", "-p", str(port), "-w", str(workers),
    ]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    name = f"mlflow models serve, {workers} worker{'s' if workers > 1 else ''}"
    rows = []
    with running(cmd, {}, base + "/ping", work / "mlflow.log") as pid:
        probability = first_probability(base + "/invocations", bodies.mlflow_single, mlflow=True)
        for c in (1, 8):
            rows.append(
                Row(
                    name,
                    "1 lead, intent counts",
                    c,
                    gen.run(base + "/invocations", bodies.mlflow_single, c, pid),
                )
            )
        load = gen.run(base + "/invocations", bodies.mlflow_batch, 1, pid)
        rows.append(Row(name, f"batch of {batch_size:,} (intent counts)", 1, load, batch_size))
    return rows, probability


def markdown(rows: list[Row], header: list[str]) -> str:
    """The result table, ratios against MLflow's row of the same scenario and concurrency."""
    baseline = {(r.scenario, r.concurrency): r for r in rows if r.server.startswith("mlflow")}
    lines = [
        *header,
        "",
        "| server | request | conc. | req/s | leads/s | p50 ms | p99 ms | errors | server CPU ms/req "
        "| x mlflow (leads/s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        base = baseline.get((r.scenario.replace("raw activities", "intent counts"), r.concurrency))
        ratio = (
            f"{r.load.rate / base.load.rate:.1f}x"
            if base is not None and base is not r and base.load.rate > 0
            else ""
        )
        lines.append(
            f"| {r.server} | {r.scenario} | {r.concurrency} | {r.load.rate:,.0f} | "
            f"{r.load.rate * r.leads_per_request:,.0f} | {r.load.p50_ms:.2f} | {r.load.p99_ms:.2f} | "
            f"{r.load.errors} | {r.load.cpu_ms_per_request:.2f} | {ratio} |"
        )
    return "\n".join(lines)


def verdict(rows: list[Row]) -> list[str]:
    """Target check per worker count: single-lead req/s ratio at c=1 and c=8, and p99 at c=8."""
    mlflow = {r.concurrency: r for r in rows if r.server.startswith("mlflow") and r.leads_per_request == 1}
    out = []
    for server in dict.fromkeys(r.server for r in rows if not r.server.startswith("mlflow")):
        ours = {
            r.concurrency: r for r in rows if r.server == server and r.scenario == "1 lead, intent counts"
        }
        if 1 not in mlflow or 8 not in mlflow or 8 not in ours:
            continue
        best_mlflow = max(mlflow[1].load.rate, mlflow[8].load.rate)
        ratio = ours[8].load.rate / best_mlflow if best_mlflow else float("inf")
        p99 = ours[8].load.p99_ms
        met = ratio >= TARGET_RATIO and p99 <= TARGET_P99_MS
        out.append(
            f"- {server}: {ratio:.1f}x MLflow's best single-lead req/s (target >= {TARGET_RATIO:g}x), "
            f"p99 {p99:.1f} ms at c=8 (target <= {TARGET_P99_MS:g} ms): {'MET' if met else 'MISSED'}"
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison; 0 on success, 2 on a domain error (one line on stderr)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.service", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="bundle directory (default: train one)")
    parser.add_argument(
        "--n-leads", type=int, default=5000, help="simulated leads when training (default 5000)"
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (default 5)")
    parser.add_argument(
        "--workers", default="1,2", help="worker counts of our service to measure (default 1,2)"
    )
    parser.add_argument(
        "--mlflow-workers", type=int, default=1, help="mlflow serve workers (default 1, its own)"
    )
    parser.add_argument("--batch-size", type=int, default=1000, help="leads per batch request (default 1000)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="bursts per row, fastest kept, for every server (default 3)"
    )
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator, not wrk")
    parser.add_argument("--out", type=Path, default=OUT_PATH, help="markdown output file")
    args = parser.parse_args(argv)
    if not Path("params.yaml").exists():
        print(
            "benchmarks.service: error: run from the repository root (params.yaml not found)", file=sys.stderr
        )
        return 2
    try:
        worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    except ValueError:
        print(
            f"benchmarks.service: error: --workers must be a list like 1,2, got {args.workers!r}",
            file=sys.stderr,
        )
        return 2

    from leadscore.models.bundle import ScoringBundle

    try:
        with tempfile.TemporaryDirectory(prefix="leadscore-bench-service-") as tmp:
            work = Path(tmp)
            bundle_dir, leads, activities, model = prepare_model(args, work)
            bundle = ScoringBundle.load(bundle_dir)
            bodies = write_bodies(work, bundle, leads, activities, args.batch_size)
            pyfunc_dir = save_pyfunc(bundle_dir, work / "pyfunc")
            gen = LoadGenerator(work, args.duration, args.repeats, force_python=args.python_load)
            load_before = os.getloadavg()[0]
            rows: list[Row] = []
            probabilities: dict[str, float] = {}
            for workers in worker_counts:
                ours, probabilities[f"ours-{workers}"] = measure_ours(
                    gen, bundle_dir, bodies, workers, work, args.batch_size
                )
                rows += ours
            theirs, probabilities["mlflow"] = measure_mlflow(
                gen, pyfunc_dir, bodies, args.mlflow_workers, work, args.batch_size
            )
            rows += theirs
            load_after = os.getloadavg()[0]
    except LeadscoreError as exc:
        print(f"benchmarks.service: error: {exc}", file=sys.stderr)
        return 2

    same = len(set(probabilities.values())) == 1
    header = [
        "# Scoring service: leadscore serve vs mlflow models serve (same bundle, one run)",
        "",
        f"Model: {model}, version `{bundle.version}`. Load generator: {gen.name}, {args.duration:g} s a row "
        f"after a 1 s warm-up, fastest of {gen.repeats} burst(s); {os.cpu_count()} cores shared by servers "
        f"and load generator; load average "
        f"{load_before:.1f} before, {load_after:.1f} after. Ours: reasons on (top 3 each way), prediction "
        "log on (SQLite), API key checked. Same probability for the first lead from every server: "
        f"{'yes' if same else 'NO ' + json.dumps(probabilities)}.",
    ]
    text = markdown(rows, header) + "\n\n" + "\n".join(verdict(rows)) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
