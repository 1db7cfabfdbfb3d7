"""Model loading and hot reload on a real uvicorn while a client thread keeps scoring.

* readiness: 503 until a bundle has loaded and scored its warm-up lead, then 200 without a restart;
* a bundle directory that changes under a symlink is picked up by the poller, a broken one is refused (409 on
  a manual reload) and the previous model keeps serving; no request fails and no response mixes two models;
* the MLflow registry: moving the ``champion`` alias is picked up by polling the alias's version.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from leadscore.core.params import RegistryParams
from leadscore.models.bundle import ScoringBundle
from leadscore.models.registry import log_and_register, promote
from leadscore.serving.app import create_app
from tests.registry_fixtures import fresh_store, mlflow_template_fixture  # noqa: F401 - fixtures
from tests.serving_fixtures import (  # noqa: F401 - fixtures
    API_KEY,
    LiveLeads,
    lead_payloads,
    live_leads_fixture,
    running_server,
    second_bundle_dir_fixture,
    service_settings,
    tiny_bundle_dir_fixture,
)

AUTH = {"X-API-Key": API_KEY}


class Hammer(threading.Thread):
    """Scores one lead in a loop and records (status, model_version, probability) of every response."""

    def __init__(self, base_url: str, payload: dict[str, object]) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.payload = payload
        self.results: list[tuple[int, str | None, float | None]] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30.0) as client:
            while not self.stop.is_set():
                try:
                    response = client.post("/v1/score", json=self.payload, headers=AUTH)
                except httpx.HTTPError as exc:  # a dropped connection is a failed request too
                    self.errors.append(repr(exc))
                    continue
                body = response.json()
                self.results.append(
                    (response.status_code, body.get("model_version"), body.get("probability"))
                )

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=30)


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def point(link: Path, target: Path) -> None:
    """Atomically repoint a symlink (what a deploy tool does when it switches releases)."""
    tmp = link.with_name(link.name + ".new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target, target_is_directory=True)
    os.replace(tmp, link)


def model_version(client: httpx.Client) -> str:
    return client.get("/v1/model", headers=AUTH).json()["version"]


def assert_consistent(hammer: Hammer, expected: dict[str, float]) -> None:
    """Every request succeeded and each response's version label matches the numbers of that version."""
    assert hammer.errors == []
    assert hammer.results, "the client thread sent no request"
    statuses = {status for status, _, _ in hammer.results}
    assert statuses == {200}, statuses
    for _, version, probability in hammer.results:
        assert version in expected
        assert probability == expected[version]  # no response mixes one model's label with the other's score


@pytest.fixture
def payload(live_leads: LiveLeads) -> dict[str, object]:
    leads = live_leads.leads.iloc[:1]
    return lead_payloads(
        leads, live_leads.activities[live_leads.activities["lead_id"].isin(leads["lead_id"])]
    )[0]


def expected_probabilities(payload: dict[str, object], live: LiveLeads, *dirs: Path) -> dict[str, float]:
    leads = live.leads[live.leads["lead_id"] == payload["lead_id"]]
    activities = live.activities[live.activities["lead_id"].isin(leads["lead_id"])]
    out = {}
    for directory in dirs:
        bundle = ScoringBundle.load(directory)
        out[bundle.version] = float(bundle.score(leads, activities)["probability"].iloc[0])
    assert len(out) == len(dirs), "the reload test needs bundles of different versions"
    return out


def test_not_ready_until_a_bundle_loads_then_ready_without_restart(
    tmp_path: Path, tiny_bundle_dir: Path, payload: dict[str, object]
) -> None:
    empty = tmp_path / "model"
    empty.mkdir()
    settings = service_settings(tmp_path, empty, reload_poll_seconds=0.2)
    with running_server(create_app(settings), wait_ready=False) as server:
        with httpx.Client(base_url=server.base_url) as client:
            assert client.get("/health/live").status_code == 200
            ready = client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["error"]["code"] == "not_ready"
            assert str(empty) not in ready.text  # no internals without a key
            scored = client.post("/v1/score", json=payload, headers=AUTH)
            assert scored.status_code == 503
            assert scored.json()["error"]["code"] == "not_ready"
            assert "bundle" in scored.json()["error"]["message"]  # the keyed API says why
            shutil.copytree(tiny_bundle_dir, empty, dirs_exist_ok=True)
            wait_for(lambda: client.get("/health/ready").status_code == 200, what="readiness")
            assert client.post("/v1/score", json=payload, headers=AUTH).status_code == 200


def test_directory_swap_is_picked_up_and_a_broken_bundle_is_refused_under_traffic(
    tmp_path: Path,
    tiny_bundle_dir: Path,
    second_bundle_dir: Path,
    live_leads: LiveLeads,
    payload: dict[str, object],
) -> None:
    expected = expected_probabilities(payload, live_leads, tiny_bundle_dir, second_bundle_dir)
    first, second = ScoringBundle.load(tiny_bundle_dir).version, ScoringBundle.load(second_bundle_dir).version
    broken = tmp_path / "broken"
    shutil.copytree(second_bundle_dir, broken)
    (broken / "bundle.joblib").write_bytes(b"not a bundle")
    current = tmp_path / "current"
    point(current, tiny_bundle_dir)
    settings = service_settings(tmp_path, current, reload_poll_seconds=0.2)
    with running_server(create_app(settings)) as server, httpx.Client(base_url=server.base_url) as client:
        assert model_version(client) == first
        hammer = Hammer(server.base_url, payload)
        hammer.start()
        try:
            wait_for(lambda: len(hammer.results) > 20, what="traffic")
            point(current, second_bundle_dir)  # a deploy: the poller must notice
            wait_for(lambda: model_version(client) == second, what="the poller to load the new bundle")
            n_before_broken = len(hammer.results)
            point(current, broken)
            refused = client.post("/v1/model/reload", headers=AUTH)
            assert refused.status_code == 409
            error = refused.json()["error"]
            assert error["code"] == "reload_refused"
            assert f"still serving {second}" in error["message"]
            time.sleep(0.5)  # several poll ticks on the broken bundle
            assert model_version(client) == second
            wait_for(lambda: len(hammer.results) > n_before_broken + 20, what="traffic after the refusal")
            point(current, tiny_bundle_dir)
            reloaded = client.post("/v1/model/reload", headers=AUTH).json()
            assert reloaded["version"] == first
            assert reloaded["previous_version"] in (second, first)  # the poller may have been first
        finally:
            hammer.finish()
        info = client.get("/v1/model", headers=AUTH).json()
        assert info["version"] == first
        assert info["metadata"]["version"] == first
    assert_consistent(hammer, expected)
    assert {version for _, version, _ in hammer.results} == {first, second}


def test_moving_the_registry_alias_reloads_under_traffic(
    tmp_path: Path,
    mlflow_template: Path,
    tiny_bundle_dir: Path,
    second_bundle_dir: Path,
    live_leads: LiveLeads,
    payload: dict[str, object],
) -> None:
    expected = expected_probabilities(payload, live_leads, tiny_bundle_dir, second_bundle_dir)
    tracking: RegistryParams = fresh_store(mlflow_template, tmp_path / "mlflow")
    register = {
        "metrics": {},
        "params_dict": {},
        "plots_dir": None,
        "provenance": {"git_sha": "test"},
        "tracking": tracking,
        "test_leads": live_leads.leads,
        "test_activities": live_leads.activities,
    }
    v1 = log_and_register(tiny_bundle_dir, **register)
    assert v1.alias == "champion"
    settings = service_settings(
        tmp_path,
        f"models:/{tracking.model_name}@champion",
        tracking_uri=tracking.tracking_uri,
        reload_poll_seconds=0.3,
    )
    with running_server(create_app(settings)) as server, httpx.Client(base_url=server.base_url) as client:
        info = client.get("/v1/model", headers=AUTH).json()
        assert info["source_revision"] == v1.version
        hammer = Hammer(server.base_url, payload)
        hammer.start()
        try:
            v2 = log_and_register(second_bundle_dir, **register)
            promote(tracking.model_name, v2.version, tracking_uri=tracking.tracking_uri)
            second = ScoringBundle.load(second_bundle_dir).version
            wait_for(
                lambda: model_version(client) == second, timeout=60, what="the alias move to be picked up"
            )
            wait_for(lambda: hammer.results[-1][1] == second, what="traffic on the new model")
        finally:
            hammer.finish()
        assert client.get("/v1/model", headers=AUTH).json()["source_revision"] == v2.version
    assert_consistent(hammer, expected)
