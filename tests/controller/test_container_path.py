"""Phase Jobs run with the worker image's environment: init fetches `hf:` seeds from a hub,
and the paper example's whole generation 0 runs Job by Job.

Earlier tests ran phase commands with the test machine's environment and so could not see
that the worker image sets HF_HUB_OFFLINE=1: the paper's example could not fetch its seeds
in a cluster. Here each Job is rendered by the operator's own builder, its environment is the
Dockerfile's ENV overlaid by the Job's env (tests.container_env), its spec is the ConfigMap
the operator writes, and the hub is a local hub-compatible endpoint (tests.fakes.hub_server)
serving toy-world weights under the repo names the run asks for; the real
``snapshot_download`` does the fetching.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from acdc.controller.job_manifest import build_job
from acdc.controller.job_outcome import termination_result
from acdc.controller.run_ref import RunRef
from acdc.controller.server_manifests import deployed_endpoints, service_url
from acdc.controller.volume_manifests import build_spec_configmap
from acdc.engine.state import RunState
from acdc.errors import EXIT_INFRASTRUCTURE
from acdc.models.hub import MARKER
from acdc.phases.context import EXIT_REJECTED
from acdc.phases.dag import DagShape, generation_complete, ready, skipped, steps_of
from acdc.spec import CoevolutionRun, load_run
from acdc.steps import Phase, Step, StepRecord
from acdc.toyworld.training import Architecture
from tests.container_env import Cluster, Sandbox, image_env, run_job, terminated_pod
from tests.controller.cluster import run_body
from tests.fakes import lab_replies
from tests.fakes.hub_server import HubServer, serve_hub
from tests.fakes.openai_server import serve

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "images" / "worker" / "Dockerfile"
TOKEN = "hf_local_test_token"
PAPER_REPOS = {"Qwen/Qwen2.5-7B": "base", "Qwen/Qwen2.5-Coder-7B-Instruct": "strings",
               "Qwen/Qwen2.5-Math-7B-Instruct": "arithmetic", "Qwen/Qwen2.5-7B-Instruct": "lists"}
PAPER_POOL = 12  # tasks the scientist stand-in is asked for (the example: 300, see paper_example)
JOBS_AT_ONCE = 2  # pods running at once: the operator starts every ready Job; CI has two cores


def step_in_worker_image(run: CoevolutionRun, step: Step, tmp_path: Path, secrets: dict[str, dict[str, str]]):
    """``step``'s Job as the operator renders it, run as its pod would; the state persists in tmp_path/pod."""
    sandbox = Sandbox(tmp_path / "pod")
    return job_in_worker_image(run, step, Cluster(secrets=secrets, configmaps={}), sandbox), sandbox.state


def job_in_worker_image(run: CoevolutionRun, step: Step, cluster: Cluster, sandbox: Sandbox):
    ref = run_ref(run)
    job = build_job(ref, run.spec, step, f"{ref.name}-state")
    return run_job(job, build_spec_configmap(ref, run.spec), WORKER, cluster, sandbox)


def run_ref(run: CoevolutionRun) -> RunRef:
    return RunRef(run.metadata.name, run.metadata.namespace or "default", "uid-1")


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


def test_the_paper_examples_init_without_a_route_to_the_hub_is_an_infrastructure_fault(tmp_path: Path) -> None:
    """No network: the init Job of examples/qwen2.5-7b.yaml exits 75 with the cause on one line
    and in its termination log, never 1 (the step's own failure, retried, then the run failed
    as if the run were wrong). Nothing listens on port 9: connection refused."""
    run = paper_example(tmp_path, "http://127.0.0.1:9", PAPER_POOL)
    sandbox = Sandbox(tmp_path / "pod")
    result = job_in_worker_image(run, Step(0, Phase.INIT), Cluster(secrets={}, configmaps={}), sandbox)
    assert result.returncode == EXIT_INFRASTRUCTURE, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "could not fetch Qwen/" in errors[0] and "http://127.0.0.1:9" in errors[0]
    assert "could not fetch" in json.loads(terminated_pod(result, sandbox)["status"]["containerStatuses"][0]
                                           ["state"]["terminated"]["message"])["fault"]
    assert not RunState(sandbox.state).step_file(Step(0, Phase.INIT)).exists()


def paper_example(tmp_path: Path, hub_url: str, pool_size: int) -> CoevolutionRun:
    """examples/qwen2.5-7b.yaml with only what cannot hold on this machine replaced.

    - ``models.hub.endpoint``: the local hub, serving toy-world weights under the four Qwen
      repo names (PAPER_REPOS), so init fetches them through the real ``snapshot_download``.
    - ``inference.backend: transformers``: vLLM needs a GPU; the transformers CPU backend sits
      behind the same adapter (``models.inference.make_backend``), so evaluate runs the same
      code up to the engine. ``maxTokens``/``maxModelLen`` follow: they size a 7B model's
      answers and context, and a toy model's context is ``Architecture.max_position_embeddings``
      tokens (its answers end well before); the quickstart's 32 is the toy world's longest
      answer. ``promptStyle: plain``: the example's system prompt asks a chat model for
      "Answer:" lines; the toy stand-ins never saw a system turn and answer only without one.
    - ``retention.minFreeGib: 0``: the example keeps 50 GiB free for 7B children; the toy
      stand-ins need none, and CI disks vary.
    - ``resources.merge.cpu``/``resources.evaluate.cpu``: "1" instead of "8". This machine is
      one 2-core node: pods asking for 8 CPUs would never be scheduled on it, and their torch
      threads follow the request (``job_env.thread_vars``). Two such pods run at once.
    - ``tasks.initialPoolSize``/``maxPoolSize``: the example asks the scientist for 300 tasks
      and keeps 250; every evaluate and score Job then runs each one in its own sandboxed
      process (16 x 250 here, serially on two cores). ``pool_size`` keeps the same pipeline
      (scientist, review round, sandbox validation, novelty filter) at a size CI can afford.
    Everything else (16 models from 3 seeds and 13 merges, linear crossover, SVD mutation,
    DNS, the deployed scientist and embedder, gVisor, Kueue, GPU and memory requests) is the example's.
    """
    document = yaml.safe_load((ROOT / "examples" / "qwen2.5-7b.yaml").read_text())
    spec = document["spec"]
    spec["models"]["hub"] = {"endpoint": hub_url}
    spec["inference"].update(backend="transformers", maxTokens=32, maxModelLen=Architecture().max_position_embeddings,
                             promptStyle="plain")
    spec["retention"]["minFreeGib"] = 0
    for gpu_class in ("merge", "evaluate"):
        spec["resources"][gpu_class]["cpu"] = "1"
    spec["tasks"].update(initialPoolSize=pool_size, maxPoolSize=pool_size)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(document))
    return load_run(tmp_path / "run.yaml")


def record_of(step: Step, result, sandbox: Sandbox) -> StepRecord:
    """The step's record as the operator reads it off the finished pod (a rejected child: exit 3)."""
    assert result.returncode in (0, EXIT_REJECTED), f"{step.name} failed:\\n{result.stderr[-3000:]}"
    record = termination_result([terminated_pod(result, sandbox)])
    assert record is not None, f"{step.name} wrote no termination message"
    return record


def run_generation_0(run: CoevolutionRun, cluster: Cluster, root: Path) -> dict[str, StepRecord]:
    """Every Job of generation 0, launched as the operator launches them: what ``dag.ready``
    allows, dropped dependants recorded via ``dag.skipped``, results from termination messages.
    Each pod has its own /tmp and spec mount; all share the run's volume (root/pvc)."""
    shape = DagShape.from_spec(run.spec)
    done: dict[str, StepRecord] = {}

    def launch(step: Step) -> StepRecord:
        sandbox = Sandbox(root / "pods" / step.name, volume=root / "pvc")
        return record_of(step, job_in_worker_image(run, step, cluster, sandbox), sandbox)

    with ThreadPoolExecutor(max_workers=JOBS_AT_ONCE) as nodes:
        while not generation_complete(shape, 0, done):
            done.update((step.name, StepRecord("dropped", {})) for step in skipped(shape, 0, done))
            batch = ready(shape, 0, done)
            assert batch, f"generation 0 stuck after {sorted(done)}"
            done.update(zip([step.name for step in batch], nodes.map(launch, batch), strict=True))
    return done


@pytest.mark.slow
def test_the_paper_example_runs_generation_0_in_the_worker_image_environment(tmp_path: Path,
                                                                              toy_world: Path) -> None:
    """The whole of generation 0 of examples/qwen2.5-7b.yaml, each phase run as its Job's pod.

    init fetches the seeds from the hub, tasks has the scientist write the initial pool, plan,
    13 merges (linear crossover, SVD mutation), 16 evaluates, 16 scores and select follow:
    each is the command of the Job the operator renders, run with the worker image's ENV and
    the Job's env, against the spec ConfigMap the operator writes (deployed endpoints as
    Service URLs). Stand-ins, as nothing else can run here (see ``paper_example``):
    toy-world weights for the Qwen models; the transformers backend for vLLM; for the
    deployed 72B scientist/judge and the e5 embedder, tests.fakes.openai_server answering
    as the scientist was recorded answering (tests.fakes.lab_replies), reached at the
    Services' URLs (``Cluster.services``); no gVisor (bubblewrap confines task code in
    the pod, as it does under gVisor), no GPU, no Kueue (Jobs start at once).
    """
    hub = HubServer()
    for repo, model in PAPER_REPOS.items():
        hub.add(repo, toy_world / model)
    with serve_hub(hub), serve(lab_replies.chat, lab_replies.embed) as lab:
        run = paper_example(tmp_path, hub.url, PAPER_POOL)
        ref = run_ref(run)
        services = {service_url(ref, role): lab.url for role in deployed_endpoints(run.spec)}
        assert sorted(services) == [service_url(ref, "embedding"), service_url(ref, "scientist")]
        assert all(url in build_spec_configmap(ref, run.spec)["data"]["run.yaml"] for url in services)
        cluster = Cluster(secrets={}, configmaps={}, services=services)
        done = run_generation_0(run, cluster, tmp_path / "cluster")
        downloads = sum(1 for method, path, _ in hub.requests if method == "GET" and "/resolve/" in path)
        # A retried init Job (a lost pod) finds the verified downloads and fetches nothing.
        again = job_in_worker_image(run, Step(0, Phase.INIT), cluster, Sandbox(tmp_path / "retry", tmp_path / "cluster/pvc"))
        assert again.returncode == 0, again.stderr[-3000:]
        assert sum(1 for method, path, _ in hub.requests if method == "GET" and "/resolve/" in path) == downloads
    state = tmp_path / "cluster" / "pvc"
    shape = DagShape.from_spec(run.spec)
    assert (shape.seed_slots(0), shape.children(0)) == (3, 13)
    expected = {step.name for step, _needs in steps_of(shape, 0, done)}
    assert set(done) == expected and all(record.status == "succeeded" for name, record in done.items()
                                         if Step.parse(name).phase is not Phase.MERGE)

    seeds = json.loads(RunState(state).seeds_file.read_text())["models"]
    assert sorted(seeds) == ["base", "seed_coder", "seed_instruct", "seed_math"]
    for model_id, repo in zip(["base", "seed_coder", "seed_math", "seed_instruct"], PAPER_REPOS, strict=True):
        assert Path(seeds[model_id]).is_relative_to(state)
        weights = Path(seeds[model_id]) / "model.safetensors"
        assert weights.read_bytes() == (toy_world / PAPER_REPOS[repo] / "model.safetensors").read_bytes()

    pool = done["g0000-tasks"].result
    assert pool["pool"] >= PAPER_POOL // 2, pool  # the stand-in's tasks load and are novel
    asked = [body for endpoint, body in lab.requests if endpoint == "chat/completions"]
    assert any(body["messages"][0]["content"].startswith("You design task families") for body in asked)
    assert any(endpoint == "embeddings" for endpoint, _ in lab.requests)
    # Score Jobs graded near misses through the judge (the scientist's Service, as the example has no judge).
    assert any(body["messages"][0]["content"].startswith("You grade one submission") for body in asked)

    merged = [record for name, record in done.items() if Step.parse(name).phase is Phase.MERGE]
    assert len(merged) == 13 and sum(r.status == "succeeded" for r in merged) >= 10
    scored = [record.result for name, record in done.items() if Step.parse(name).phase is Phase.SCORE]
    assert all(result["tasks"] == pool["pool"] for result in scored)
    assert max(result["solved"] for result in scored) > 0  # the toy stand-ins solve some of the pool
    selected = done["g0000-select"].result
    assert 0 < selected["archive"] <= run.spec.population.size, selected
