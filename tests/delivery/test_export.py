"""The task force's export to a hub-compatible endpoint on loopback, through huggingface_hub's
own upload (create_repo + create_commit; git-LFS for safetensors) and read back with its
own snapshot_download. The cluster path (the export Job, token from a Secret) is in
tests/controller/test_operator_evaluation.py."""

from __future__ import annotations

import json

import pytest

from acdc.delivery.export import ExportError, upload_bundle
from acdc.engine.integrity import file_sha256
from acdc.spec.run import ExportSpec
from tests.delivery.test_unpack import _bundle
from tests.fakes.hub_server import HubServer, serve_hub


@pytest.fixture(autouse=True)
def _no_xet(monkeypatch):
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")  # the fake hub speaks git-LFS, not Xet
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)


def test_export_uploads_every_file_and_the_manifest_and_reads_back_identical(tmp_path, monkeypatch):
    from huggingface_hub import snapshot_download

    bundle = _bundle(tmp_path)
    monkeypatch.setenv("HF_TOKEN", "write-token")
    with serve_hub(HubServer(write_token="write-token")) as hub:
        url = upload_bundle(bundle, ExportSpec(repo="team/taskforce", endpoint=hub.url))
        assert url.startswith(f"{hub.url}/team/taskforce/commit/")
        got = tmp_path / "back"
        snapshot_download("team/taskforce", endpoint=hub.url, local_dir=got, token="write-token")
    for item in bundle.files:
        assert file_sha256(got / item.relative) == item.sha256
    assert json.loads((got / "manifest.json").read_text())["members"] == bundle.manifest["members"]
    uploaded_via_lfs = {path for method, path, _ in hub.requests if method == "PUT"}
    assert uploaded_via_lfs == {f"/lfs-upload/{f.sha256}" for f in bundle.files if f.relative.endswith(".safetensors")}


@pytest.mark.parametrize("token, endpoint, message", [
    ("wrong", None, "export to team/taskforce failed: .*401"),
    ("write-token", "http://127.0.0.1:9", "export to team/taskforce failed"),
])
def test_export_failures_are_one_line(tmp_path, monkeypatch, token, endpoint, message):
    monkeypatch.setenv("HF_TOKEN", token)
    with serve_hub(HubServer(write_token="write-token")) as hub, pytest.raises(ExportError, match=message) as caught:
        upload_bundle(_bundle(tmp_path), ExportSpec(repo="team/taskforce", endpoint=endpoint or hub.url))
    assert "\n" not in str(caught.value)


def test_copy_to_a_folder_is_verified_idempotent_and_never_overwrites(tmp_path):
    from acdc.delivery.export import copy_bundle
    from acdc.delivery.unpack import BadBundle
    from acdc.errors import UserError

    bundle = _bundle(tmp_path)
    target = tmp_path / "pvc" / "run-a"
    assert copy_bundle(bundle, target) == target
    for item in bundle.files:
        assert file_sha256(target / item.relative) == item.sha256
    assert copy_bundle(bundle, target) == target  # a re-run export Job finds its finished copy
    (tmp_path / "pvc" / "other").mkdir()
    with pytest.raises(UserError, match="already exists"):
        copy_bundle(bundle, tmp_path / "pvc" / "other")
    changed = bundle.files[1].source  # changed after it was hashed: the copy must notice
    data = changed.read_bytes()
    changed.write_bytes(bytes([data[0] ^ 1]) + data[1:])
    with pytest.raises(BadBundle, match="SHA-256 differs"):
        copy_bundle(bundle, tmp_path / "pvc" / "run-b")
    assert sorted(p.name for p in (tmp_path / "pvc").iterdir()) == ["other", "run-a"]
