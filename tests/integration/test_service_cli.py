"""``leadscore serve`` as a real process: environment settings, 127.0.0.1, and no lost log rows on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from leadscore.serving.auth import create_key
from tests.serving_fixtures import LiveLeads, lead_payloads, live_leads_fixture, tiny_bundle_dir_fixture  # noqa: F401

LEADSCORE = Path(sys.executable).parent / "leadscore"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_environment(tmp_path: Path, bundle_dir: Path, port: int, **settings: str) -> dict[str, str]:
    """Environment of a ``leadscore serve`` process: the bundle, a SQLite log and keys file in tmp_path."""
    return {
        **os.environ,
        "LEADSCORE_MODEL_URI": str(bundle_dir),
        "LEADSCORE_DATABASE_URL": f"sqlite:///{tmp_path / 'log.db'}",
        "LEADSCORE_API_KEYS_FILE": str(tmp_path / "keys.json"),
        "LEADSCORE_PORT": str(port),
        "LEADSCORE_RELOAD_POLL_SECONDS": "0",
        **{f"LEADSCORE_{name.upper()}": value for name, value in settings.items()},
    }


def test_serve_process_scores_with_a_keys_file_and_flushes_the_log_on_sigterm(
    tmp_path: Path, tiny_bundle_dir: Path, live_leads: LiveLeads
) -> None:
    key = create_key(tmp_path / "keys.json", "crm")
    port = free_port()
    database = tmp_path / "log.db"
    # A long flush interval: the rows are still queued when the signal arrives.
    env = serve_environment(tmp_path, tiny_bundle_dir, port, log_flush_seconds="60", log_batch_size="50000")
    proc = subprocess.Popen(
        [str(LEADSCORE), "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    payloads = lead_payloads(live_leads.leads.iloc[:30], None)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180  # generous: a loaded 2-core CI box imports slowly
        with httpx.Client(base_url=base, timeout=10) as client:
            while True:
                try:
                    if client.get("/health/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "leadscore serve did not become ready"
                time.sleep(0.1)
            for payload in payloads:
                assert client.post("/v1/score", json=payload, headers={"X-API-Key": key}).status_code == 200
            assert (
                client.post("/v1/score", json=payloads[0], headers={"X-API-Key": "nope"}).status_code == 401
            )
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status says "terminated".
    assert proc.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert key not in output  # keys are never logged
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM predictions")) == len(payloads)
    engine.dispose()


def test_serve_with_two_workers_answers_from_both_processes(
    tmp_path: Path, tiny_bundle_dir: Path, live_leads: LiveLeads
) -> None:
    """Both workers answer on their own SO_REUSEPORT sockets (request ids carry a per-process prefix)."""
    key = create_key(tmp_path / "keys.json", "crm")
    port = free_port()
    env = serve_environment(tmp_path, tiny_bundle_dir, port, workers="2")
    proc = subprocess.Popen(
        [str(LEADSCORE), "serve"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    [payload] = lead_payloads(live_leads.leads.iloc[:1], None)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        prefixes: set[str] = set()
        ready = 0
        while len(prefixes) < 2 or ready < 2:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, f"only worker prefixes {prefixes} answered"
            try:
                # A new connection each time: the kernel picks a worker's socket per connection.
                with httpx.Client(base_url=base, timeout=10) as client:
                    answer = client.post("/v1/score", json=payload, headers={"X-API-Key": key})
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            if answer.status_code == 503:  # that worker is still loading its model
                time.sleep(0.1)
                continue
            assert answer.status_code == 200, answer.text
            prefix = answer.headers["x-request-id"][:16]
            ready += prefix not in prefixes
            prefixes.add(prefix)
        assert len(prefixes) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def test_serve_with_two_workers_on_a_taken_port_exits_with_one_line(
    tmp_path: Path, tiny_bundle_dir: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = serve_environment(tmp_path, tiny_bundle_dir, port, workers="2")
        done = subprocess.run(
            [str(LEADSCORE), "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
