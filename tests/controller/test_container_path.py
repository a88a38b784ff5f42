"""The init Job, run with the worker image's environment, fetches `hf:` seeds from a hub.

Earlier tests ran phase commands with the test machine's environment and so could not see
that the worker image sets HF_HUB_OFFLINE=1: the paper's example could not fetch its seeds
in a cluster. Here the Job is rendered by the operator's own builder, its environment is the
Dockerfile's ENV overlaid by the Job's env (tests.container_env), and the hub is a local
hub-compatible endpoint (tests.fakes.hub_server) serving toy-world weights under the repo
names the run asks for; the real ``snapshot_download`` does the fetching.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from acdc.controller.job_manifest import build_job
from acdc.controller.run_ref import RunRef
from acdc.controller.volume_manifests import build_spec_configmap
from acdc.engine.state import RunState
from acdc.models.hub import MARKER
from acdc.phases.dag import DagShape
from acdc.spec import CoevolutionRun, load_run
from acdc.steps import Phase, Step
from tests.container_env import Cluster, Sandbox, image_env, run_job
from tests.controller.cluster import run_body
from tests.fakes.hub_server import HubServer, serve_hub

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "images" / "worker" / "Dockerfile"
TOKEN = "hf_local_test_token"
PAPER_REPOS = {"Qwen/Qwen2.5-7B": "base", "Qwen/Qwen2.5-Coder-7B-Instruct": "strings",
               "Qwen/Qwen2.5-Math-7B-Instruct": "arithmetic", "Qwen/Qwen2.5-7B-Instruct": "lists"}


def step_in_worker_image(run: CoevolutionRun, step: Step, tmp_path: Path, secrets: dict[str, dict[str, str]]):
    """``step``'s Job as the operator renders it, run as its pod would; the state persists in tmp_path/pod."""
    ref = RunRef(run.metadata.name, run.metadata.namespace or "default", "uid-1")
    job = build_job(ref, run.spec, step, f"{ref.name}-state")
    configmap = build_spec_configmap(ref, run.spec)
    sandbox = Sandbox(tmp_path / "pod")
    result = run_job(job, configmap, WORKER, Cluster(secrets=secrets, configmaps={}), sandbox)
    return result, sandbox.state


def init_in_worker_image(run: CoevolutionRun, tmp_path: Path, secrets: dict[str, dict[str, str]]):
    return step_in_worker_image(run, Step(0, Phase.INIT), tmp_path, secrets)


def test_the_worker_image_is_offline_by_default():
    """Every phase but init must not reach the hub; init's Job turns that off (test below)."""
    assert image_env(WORKER)["HF_HUB_OFFLINE"] == "1"


def test_init_fetches_gated_hf_seeds_in_the_worker_image_environment(tmp_path: Path, toy_world: Path) -> None:
    hub = HubServer()
    hub.add("acdc-toy/base", toy_world / "base")
    hub.add("acdc-toy/arithmetic", toy_world / "arithmetic", gated_token=TOKEN)
    with serve_hub(hub):
        body = run_body()
        body["spec"]["models"] = {"base": {"hf": "acdc-toy/base"}, "seeds": [{"hf": "acdc-toy/arithmetic"}],
                                  "hub": {"endpoint": hub.url, "tokenSecret": {"name": "hf", "key": "token"}}}
        run = CoevolutionRun.model_validate(body)
        result, state = init_in_worker_image(run, tmp_path, {"hf": {"token": TOKEN}})
    assert result.returncode == 0, result.stderr[-3000:]
    seeds = json.loads(RunState(state).seeds_file.read_text())["models"]
    fetched = Path(seeds["seed_arithmetic"])
    assert fetched.is_relative_to(state / "hub")
    assert (fetched / "model.safetensors").read_bytes() == (toy_world / "arithmetic" / "model.safetensors").read_bytes()
    assert json.loads((fetched / MARKER).read_text())["repo"] == "acdc-toy/arithmetic"
    gated = [headers for _, path, headers in hub.requests if "acdc-toy/arithmetic" in path]
    assert gated and all(headers.get("authorization") == f"Bearer {TOKEN}" for headers in gated)


def test_a_missing_token_secret_key_stops_the_pod_like_the_kubelet(tmp_path: Path) -> None:
    body = run_body()
    body["spec"]["models"] = {"seeds": [{"hf": "acdc-toy/arithmetic"}],
                              "hub": {"endpoint": "http://127.0.0.1:9", "tokenSecret": {"name": "hf", "key": "token"}}}
    with pytest.raises(AssertionError, match="CreateContainerConfigError"):
        init_in_worker_image(CoevolutionRun.model_validate(body), tmp_path, {})


@pytest.mark.slow
def test_the_paper_example_fetches_its_seeds_and_merges_in_generation_0(tmp_path: Path, toy_world: Path) -> None:
    """examples/qwen2.5-7b.yaml unchanged but for the hub endpoint and minFreeGib; toy weights stand in for Qwen's.

    Generation 0 runs through init, plan and its first merge (linear crossover and SVD mutation
    of the fetched seeds, as the example asks). Its evaluate Jobs need vLLM on a GPU and its
    tasks Job the deployed 72B scientist: neither runs on this machine.
    """
    hub = HubServer()
    for repo, model in PAPER_REPOS.items():
        hub.add(repo, toy_world / model)
    with serve_hub(hub):
        document = yaml.safe_load((ROOT / "examples" / "qwen2.5-7b.yaml").read_text())
        document["spec"]["models"]["hub"] = {"endpoint": hub.url}
        # The example keeps 50 GiB free for 7B children; toy stand-ins need none (CI disks vary).
        document["spec"]["retention"]["minFreeGib"] = 0
        (tmp_path / "run.yaml").write_text(yaml.safe_dump(document))
        run = load_run(tmp_path / "run.yaml")
        result, state = init_in_worker_image(run, tmp_path, {})
        assert result.returncode == 0, result.stderr[-3000:]
        downloads = sum(1 for method, path, _ in hub.requests if method == "GET" and "/resolve/" in path)
        again, _ = init_in_worker_image(run, tmp_path, {})  # a retried init Job: no second download
        assert again.returncode == 0, again.stderr[-3000:]
        assert sum(1 for method, path, _ in hub.requests if method == "GET" and "/resolve/" in path) == downloads
    seeds = json.loads(RunState(state).seeds_file.read_text())["models"]
    assert sorted(seeds) == ["base", "seed_coder", "seed_instruct", "seed_math"]
    for model_id, repo in zip(["base", "seed_coder", "seed_math", "seed_instruct"], PAPER_REPOS, strict=True):
        weights = Path(seeds[model_id]) / "model.safetensors"
        assert weights.read_bytes() == (toy_world / PAPER_REPOS[repo] / "model.safetensors").read_bytes()
    shape = DagShape.from_spec(run.spec)
    plan, _ = step_in_worker_image(run, Step(0, Phase.PLAN), tmp_path, {})
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert json.loads(plan.stdout.splitlines()[-1])["result"]["children"] == shape.children(0)
    merge, _ = step_in_worker_image(run, Step(0, Phase.MERGE, shape.seed_slots(0)), tmp_path, {})
    assert merge.returncode == 0, merge.stderr[-3000:]
    child = json.loads(merge.stdout.splitlines()[-1])["result"]["model"]
    assert (state / "models").is_dir() and any(p.name == child for p in (state / "models").rglob(child))
