"""The evaluation stage's Jobs: valid batch/v1 manifests, GPU shards, CPU plan and summary."""

from __future__ import annotations

import kubernetes_validate
import pytest

from acdc.controller.evaluation_stage import build_evaluation_job, evaluation_pending, job_name
from acdc.controller.run_ref import RunRef
from acdc.spec import parse_run
from tests.controller.cluster import run_body
from tests.controller.test_manifests import K8S

REF = RunRef("demo", "ml", "0b0b0b0b-0000-0000-0000-000000000000")


def _spec(**evaluation):
    body = run_body(evaluation={"enabled": True, **evaluation})
    return parse_run({k: body[k] for k in ("apiVersion", "kind", "metadata", "spec")}, "test").spec


@pytest.mark.parametrize("part", ["plan", "000", "017", "summary"])
def test_evaluation_jobs_validate(part):
    job = build_evaluation_job(REF, _spec(), 3, part)
    kubernetes_validate.validate(job, K8S, strict=True)
    assert job["metadata"]["name"] == job_name("demo", part)
    assert job["metadata"]["labels"]["acdc.dev/phase"] == "benchmark"
    assert job["metadata"]["ownerReferences"][0]["name"] == "demo"


def test_shards_use_the_evaluate_resources_and_the_gpu_backend():
    spec = _spec()
    shard = build_evaluation_job(REF, spec, 3, "004")["spec"]["template"]["spec"]["containers"][0]
    assert shard["command"][-5:] == ["--shard-index", "4", "--no-summary", "--device", "cuda"]
    assert shard["resources"]["requests"]["nvidia.com/gpu"] == str(spec.resources.evaluate.gpus)
    plan = build_evaluation_job(REF, spec, 3, "plan")["spec"]["template"]["spec"]["containers"][0]
    assert "--plan" in plan["command"] and "nvidia.com/gpu" not in plan["resources"]["requests"]


def test_judge_key_reaches_only_the_summary_job():
    spec = _spec(bestOfN=["judge"], judge={"url": "http://judge:8000/v1", "model": "j",
                                            "apiKeySecret": {"name": "judge-key"}})
    envs = {part: build_evaluation_job(REF, spec, 1, part)["spec"]["template"]["spec"]["containers"][0]["env"]
            for part in ("plan", "000", "summary")}
    assert any(e["name"] == "ACDC_JUDGE_API_KEY" for e in envs["summary"])
    assert not any(e["name"] == "ACDC_JUDGE_API_KEY" for e in envs["plan"] + envs["000"])


def test_stage_runs_only_after_success_and_until_it_ends():
    spec = _spec()
    assert evaluation_pending(spec, {"phase": "Succeeded"})
    assert evaluation_pending(spec, {"phase": "Succeeded", "evaluation": {"phase": "Running"}})
    assert not evaluation_pending(spec, {"phase": "Running"})
    assert not evaluation_pending(spec, {"phase": "Succeeded", "evaluation": {"phase": "Succeeded"}})
    assert not evaluation_pending(spec, {"phase": "Failed"})
    disabled = spec.model_copy(update={"evaluation": spec.evaluation.model_copy(update={"enabled": False})})
    assert not evaluation_pending(disabled, {"phase": "Succeeded"})


def test_the_hub_token_reaches_only_the_export_job_which_alone_may_reach_the_hub():
    spec = _spec(export={"repo": "team/tf", "tokenSecret": {"name": "hub-write", "key": "token"}})
    jobs = {part: build_evaluation_job(REF, spec, 1, part) for part in ("plan", "000", "summary", "export")}
    kubernetes_validate.validate(jobs["export"], K8S, strict=True)
    envs = {part: job["spec"]["template"]["spec"]["containers"][0]["env"] for part, job in jobs.items()}
    assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hub-write", "key": "token"}}} in envs["export"]
    assert {"name": "HF_HUB_OFFLINE", "value": "0"} in envs["export"]
    assert not any(e["name"] in ("HF_TOKEN", "HF_HUB_OFFLINE") for p in ("plan", "000", "summary") for e in envs[p])
    command = jobs["export"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:3] == ["acdc", "export", "/state"] and "nvidia.com/gpu" not in str(jobs["export"])
