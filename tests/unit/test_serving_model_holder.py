"""Model holder: pinned registry URIs, change detection, refusing a broken bundle and keeping the old one."""

from __future__ import annotations

import shutil
from pathlib import Path

from leadscore.serving.model_holder import directory_fingerprint, holder_for, pinned_uri, registry_alias_probe
from tests.serving_fixtures import second_bundle_dir_fixture, tiny_bundle_dir_fixture  # noqa: F401


def test_alias_uri_is_pinned_to_the_probed_version_so_a_second_move_cannot_race_the_load() -> None:
    assert pinned_uri("models:/lead_scorer@champion", "7") == "models:/lead_scorer/7"
    assert pinned_uri("models:/lead_scorer@champion", None) == "models:/lead_scorer@champion"
    assert pinned_uri("/srv/bundle", "123-4-5") == "/srv/bundle"


def test_only_alias_uris_get_a_registry_probe() -> None:
    assert registry_alias_probe("models:/lead_scorer@champion", "sqlite:///x.db") is not None
    assert registry_alias_probe("models:/lead_scorer/3", "sqlite:///x.db") is None
    assert registry_alias_probe("/srv/bundle", "sqlite:///x.db") is None


def test_directory_fingerprint_changes_when_a_file_changes(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"one")
    before = directory_fingerprint(tmp_path)
    assert directory_fingerprint(tmp_path) == before
    (tmp_path / "a.bin").write_bytes(b"three")
    assert directory_fingerprint(tmp_path) != before


def test_broken_bundle_is_refused_and_the_serving_one_kept(
    tmp_path: Path, tiny_bundle_dir: Path, second_bundle_dir: Path
) -> None:
    current = tmp_path / "model"
    current.mkdir()
    holder = holder_for(str(current), "sqlite:///unused.db")
    empty = holder.reload(force=False)
    assert empty.status == "refused"
    assert not holder.ready
    assert "bundle" in (holder.last_error or "")

    shutil.copytree(tiny_bundle_dir, current, dirs_exist_ok=True)
    first = holder.reload(force=False)
    assert first.status == "reloaded"
    assert holder.ready
    serving = holder.current
    assert holder.reload(force=False).status == "unchanged"  # same fingerprint: not even loaded again

    (current / "bundle.joblib").write_bytes(b"truncated by a bad deploy")
    refused = holder.reload(force=True)
    assert refused.status == "refused"
    assert refused.previous_version == first.version
    assert holder.current is serving  # the very same object keeps serving

    shutil.copytree(second_bundle_dir, current, dirs_exist_ok=True)
    swapped = holder.reload(force=False)
    assert swapped.status == "reloaded"
    assert swapped.previous_version == first.version
    assert holder.current is not serving
    assert holder.last_error is None
