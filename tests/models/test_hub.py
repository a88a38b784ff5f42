"""acdc.models.hub.fetch against a local hub-compatible endpoint: pinning, resume, verification, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from acdc.errors import InfrastructureFault, UserError
from acdc.models.hub import MARKER, fetch
from tests.fakes.hub_server import HubServer, serve_hub
from tests.progress import StallWatch, tree_cpu_seconds

WEIGHTS = "model.safetensors"


@pytest.fixture(autouse=True)
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the developer's shell says: these tests talk to 127.0.0.1 only."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)


def weights(folder: Path) -> bytes:
    return (folder / WEIGHTS).read_bytes()


def test_a_pinned_revision_is_what_is_fetched(tmp_path: Path, toy_world: Path) -> None:
    hub = HubServer()
    old = hub.add("acdc-toy/expert", toy_world / "lists", revision="v1")
    hub.add("acdc-toy/expert", toy_world / "strings")  # main moved on since
    with serve_hub(hub):
        by_commit = fetch("acdc-toy/expert", old.commit, hub.url, tmp_path / "by-commit")
        by_tag = fetch("acdc-toy/expert", "v1", hub.url, tmp_path / "by-tag")
        latest = fetch("acdc-toy/expert", None, hub.url, tmp_path / "latest")
    assert weights(by_commit) == weights(by_tag) == weights(toy_world / "lists")
    assert weights(latest) == weights(toy_world / "strings")
    assert json.loads((by_tag / MARKER).read_text())["commit"] == old.commit


def test_a_killed_download_resumes_without_refetching_finished_shards(tmp_path: Path) -> None:
    """huggingface_hub 2.4 resumes a broken transfer inside one process only; after a killed pod
    the next init keeps every finished shard (a 7B model has four) and sweeps the partial ones."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "config.json").write_text("{}")
    shards = {"model-00001-of-00003.safetensors": 1 << 20, "model-00002-of-00003.safetensors": 24 << 20,
              "model-00003-of-00003.safetensors": 24 << 20}
    for name, size in shards.items():
        (repo / name).write_bytes(os.urandom(size))
    small, *large = shards
    hub = HubServer(bytes_per_second=4 << 20)
    hub.add("acdc-toy/sharded", repo)
    target = tmp_path / "sharded"
    with serve_hub(hub):
        script = ("import pathlib; from acdc.models.hub import fetch; "
                  f"fetch('acdc-toy/sharded', None, {hub.url!r}, pathlib.Path({str(target)!r}))")
        child = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "HF_HUB_OFFLINE": "0"},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        watcher = StallWatch(lambda: tree_cpu_seconds(child.pid), lambda: len(hub.requests))
        while not ((target / small).is_file() and any(p.stat().st_size for p in target.rglob("*.incomplete"))):
            assert child.poll() is None and watcher.moved(), "the download ended or stalled before it could be killed"
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert not (target / MARKER).exists()
        hub.bytes_per_second = None
        hub.requests.clear()
        fetch("acdc-toy/sharded", None, hub.url, target)
    fetched = sorted(path.rsplit("/", 1)[1] for method, path, _ in hub.requests if method == "GET" and "/resolve/" in path)
    assert fetched == sorted(large), "finished shards must not be fetched again"
    assert not list(target.rglob("*.incomplete")), "partial files of the killed download are swept"
    assert all((target / name).read_bytes() == (repo / name).read_bytes() for name in shards)


def test_every_file_is_verified_and_a_bad_one_refetched(tmp_path: Path, toy_world: Path) -> None:
    hub = HubServer()
    hub.add("acdc-toy/expert", toy_world / "arithmetic")
    target = tmp_path / "expert"
    with serve_hub(hub):
        fetch("acdc-toy/expert", None, hub.url, target)
        hub.requests.clear()
        assert fetch("acdc-toy/expert", None, hub.url, target) == target
        assert hub.requests == [], "a verified download is never fetched or listed again"
        (target / MARKER).unlink()  # as after a crash between the download and the marker
        corrupt = bytearray(weights(target))
        corrupt[-1] ^= 0xFF
        (target / WEIGHTS).write_bytes(bytes(corrupt))
        with pytest.raises(InfrastructureFault, match="does not match the hub's checksum"):
            fetch("acdc-toy/expert", None, hub.url, target)
        fetch("acdc-toy/expert", None, hub.url, target)  # the retried init
    assert weights(target) == weights(toy_world / "arithmetic")


@pytest.mark.parametrize(("repo", "revision", "message"), [
    ("acdc-toy/absent", None, "was not found on"),
    ("acdc-toy/gated", None, "is gated on"),
    ("acdc-toy/expert", "no-such-tag", "has no revision 'no-such-tag'"),
])
def test_user_mistakes_are_one_line_errors(tmp_path: Path, toy_world: Path, repo: str, revision: str | None,
                                           message: str) -> None:
    hub = HubServer()
    hub.add("acdc-toy/expert", toy_world / "base")
    hub.add("acdc-toy/gated", toy_world / "base", gated_token="hf_secret")
    with serve_hub(hub), pytest.raises(UserError, match=message) as caught:
        fetch(repo, revision, hub.url, tmp_path / "m")
    assert "\n" not in str(caught.value)


def test_an_unreachable_hub_is_an_infrastructure_fault(tmp_path: Path) -> None:
    """Connection refused (httpx2's ConnectError, not an OSError): the network's fault, exit 75."""
    with pytest.raises(InfrastructureFault, match="could not fetch acdc-toy/expert from http://127.0.0.1:9") as caught:
        fetch("acdc-toy/expert", None, "http://127.0.0.1:9", tmp_path / "m")
    assert "\n" not in str(caught.value)


def test_the_hub_settings_may_change_mid_run_the_models_may_not() -> None:
    """After init failed on a gated repo, the user adds a token to the same run."""
    from acdc.spec import immutable_changes
    from acdc.spec.run import CoevolutionRunSpec

    def spec(**models: object) -> CoevolutionRunSpec:
        return CoevolutionRunSpec.model_validate({"scientist": {"kind": "procedural"},
                                                  "models": {"seeds": [{"hf": "meta-llama/Llama-3.1-8B"}], **models}})

    old = spec()
    with_token = spec(hub={"tokenSecret": {"name": "hf", "key": "token"}})
    other_seed = spec(seeds=[{"hf": "meta-llama/Llama-3.1-70B"}])
    assert immutable_changes(old, with_token) == []
    assert immutable_changes(old, other_seed) == ["models.seeds"]
