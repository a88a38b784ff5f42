"""Phase Jobs get the run's namespace and exactly the API keys of the endpoints they call."""

from __future__ import annotations

import kubernetes_validate
import pytest

from acdc.controller.job_env import NAMESPACE_ENV, THREADS_ENV, api_key_env, used_endpoint
from acdc.controller.job_manifest import build_job
from acdc.phases.services import endpoint_client
from acdc.steps import Phase, Step
from tests.controller.test_manifests import REF, spec

SCIENTIST = {"kind": "llm", "endpoint": {"url": "https://llm.example.com/v1", "model": "big",
                                          "apiKeySecret": {"name": "llm-keys", "key": "scientist"}}}
JUDGE = {"endpoint": {"url": "https://judge.example.com/v1", "model": "judge",
                      "apiKeySecret": {"name": "judge-keys"}}}
EMBEDDING = {"kind": "endpoint", "endpoint": {"url": "https://emb.example.com/v1", "model": "bge",
                                              "apiKeySecret": {"name": "emb-keys", "key": "token"}}}


def env_of(run_spec, phase: Phase) -> dict[str, dict]:
    step = Step(1, phase, 0 if phase.droppable else None)
    job = build_job(REF, run_spec, step, "demo-state")
    kubernetes_validate.validate(job, "1.33", strict=True)
    return {entry["name"]: entry for entry in job["spec"]["template"]["spec"]["containers"][0]["env"]}


def secret_refs(env: dict[str, dict]) -> dict[str, tuple[str, str]]:
    return {name: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
            for name, e in env.items() if "valueFrom" in e}


@pytest.mark.parametrize("phase", list(Phase))
def test_every_job_knows_its_namespace(phase):
    assert env_of(spec(), phase)[NAMESPACE_ENV] == {"name": NAMESPACE_ENV, "value": REF.namespace}


def test_judge_falls_back_to_the_scientists_key():
    run_spec = spec(scientist=SCIENTIST)
    scientist_key = ("llm-keys", "scientist")
    assert secret_refs(env_of(run_spec, Phase.TASKS)) == {"ACDC_SCIENTIST_API_KEY": scientist_key,
                                                          "ACDC_JUDGE_API_KEY": scientist_key}
    assert secret_refs(env_of(run_spec, Phase.INIT)) == {"ACDC_SCIENTIST_API_KEY": scientist_key}
    for phase in (Phase.SCORE, Phase.RESCORE):
        assert secret_refs(env_of(run_spec, phase)) == {"ACDC_JUDGE_API_KEY": scientist_key}
    for phase in (Phase.PLAN, Phase.MERGE, Phase.EVALUATE, Phase.REEVALUATE, Phase.SELECT, Phase.SYNC):
        assert secret_refs(env_of(run_spec, phase)) == {}


def test_each_endpoint_brings_its_own_secret():
    run_spec = spec(scientist=SCIENTIST, judge=JUDGE, embedding=EMBEDDING)
    assert secret_refs(env_of(run_spec, Phase.INIT)) == {"ACDC_SCIENTIST_API_KEY": ("llm-keys", "scientist"),
                                                         "ACDC_EMBEDDING_API_KEY": ("emb-keys", "token")}
    assert secret_refs(env_of(run_spec, Phase.SCORE)) == {"ACDC_JUDGE_API_KEY": ("judge-keys", "api-key")}


def test_unused_endpoints_reference_no_secret():
    """A procedural scientist never calls its endpoint; a missing Secret would block the pod. (An
    embedding endpoint that embedding.kind does not call is refused by the spec itself.)"""
    run_spec = spec(scientist={**SCIENTIST, "kind": "procedural"}, judge={"endpoint": {"url": "http://j/v1", "model": "j"}},
                    embedding={"kind": "features"})
    for phase in Phase:
        assert secret_refs(env_of(run_spec, phase)) == {}


@pytest.mark.parametrize("role", ["scientist", "judge", "embedding"])
def test_the_phase_side_reads_the_variable_the_job_sets(role, monkeypatch):
    run_spec = spec(scientist=SCIENTIST, judge=JUDGE, embedding=EMBEDDING)
    phase = Phase.SCORE if role == "judge" else Phase.TASKS
    env = env_of(run_spec, phase)
    assert api_key_env(role) in secret_refs(env)
    monkeypatch.setenv(api_key_env(role), f"key-of-{role}")
    monkeypatch.setenv(NAMESPACE_ENV, env[NAMESPACE_ENV]["value"])
    client = endpoint_client(used_endpoint(run_spec, role), role, "demo")
    assert client.api_key == f"key-of-{role}"


@pytest.mark.parametrize("phase", list(Phase))
def test_only_init_may_reach_the_hub_and_gets_the_token(phase):
    models = {"seeds": [{"hf": "meta-llama/Llama-3.1-8B"}], "hub": {"tokenSecret": {"name": "hf", "key": "token"}}}
    env = env_of(spec(models=models), phase)
    if phase is Phase.INIT:
        assert env["HF_HUB_OFFLINE"] == {"name": "HF_HUB_OFFLINE", "value": "0"}
        assert secret_refs(env)["HF_TOKEN"] == ("hf", "token")
    else:
        assert "HF_HUB_OFFLINE" not in env and "HF_TOKEN" not in env  # the image's HF_HUB_OFFLINE=1 holds


def test_runs_without_hub_models_leave_init_offline():
    assert "HF_HUB_OFFLINE" not in env_of(spec(), Phase.INIT)


def test_a_deployed_endpoint_is_reached_only_through_the_url_the_operator_writes():
    """No guessed Service name: in a Job the spec already carries the Service URL; elsewhere a
    ``deploy`` endpoint has no server, and the phase says so instead of calling a made-up host."""
    from acdc.controller.server_manifests import in_cluster_spec
    from acdc.errors import PhaseError

    deployed = {"kind": "llm", "endpoint": {"deploy": {"model": "Qwen/Qwen2.5-7B-Instruct"}}}
    run_spec = spec(scientist=deployed)
    with pytest.raises(PhaseError, match="scientist endpoint has no url"):
        endpoint_client(run_spec.scientist.endpoint, "scientist", "demo")
    in_job = in_cluster_spec(REF, run_spec).scientist.endpoint
    assert endpoint_client(in_job, "scientist", "demo").base_url == in_job.url


@pytest.mark.parametrize(("cpu", "threads"), [("500m", "1"), ("1", "1"), ("2.5", "3"), ("8", "8")])
def test_torch_threads_follow_the_cpu_request_not_the_nodes_cores(cpu, threads):
    """A pod sees all of its node's cores; torch would start a thread on each."""
    run_spec = spec(resources={"evaluate": {"cpu": cpu}})
    assert env_of(run_spec, Phase.EVALUATE)[THREADS_ENV] == {"name": THREADS_ENV, "value": threads}
    assert env_of(run_spec, Phase.SCORE)[THREADS_ENV]["value"] == str(run_spec.resources.score.cpu)
