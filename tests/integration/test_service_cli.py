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

from serving.auth import create_key
from tests.serving_fixtures import LiveLeads, lead_payloads, live_leads_fixture, tiny_bundle_dir_fixture  # noqa: F401

LEADSCORE = Path(sys.executable).parent / "leadscore"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_process_scores_with_a_keys_file_and_flushes_the_log_on_sigterm(
    tmp_path: Path, tiny_bundle_dir: Path, live_leads: LiveLeads
) -> None:
    keys_file = tmp_path / "keys.json"
    key = create_key(keys_file, "crm")
    port = free_port()
    database = tmp_path / "log.db"
    env = {
        **os.environ,
        "LEADSCORE_MODEL_URI": str(tiny_bundle_dir),
        "LEADSCORE_DATABASE_URL": f"sqlite:///{database}",
        "LEADSCORE_API_KEYS_FILE": str(keys_file),
        "LEADSCORE_PORT": str(port),
        "LEADSCORE_RELOAD_POLL_SECONDS": "0",
        # A long flush interval: the rows are still queued when the signal arrives.
        "LEADSCORE_LOG_FLUSH_SECONDS": "60",
        "LEADSCORE_LOG_BATCH_SIZE": "50000",
    }
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
