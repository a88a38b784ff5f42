"""The evaluation stage's Jobs: valid batch/v1 manifests, GPU shards, CPU plan and summary."""

from __future__ import annotations

import kubernetes_validate
import pytest

from acdc.controller.evaluation_stage import build_evaluation_job, evaluation_pending, job_name
from acdc.controller.kube import PODS
from acdc.controller.run_ref import RunRef
from acdc.spec import parse_run
from tests.controller.cluster import run_body
from tests.controller.test_manifests import K8S

REF = RunRef("demo", "ml", "0b0b0b0b-0000-0000-0000-000000000000")


def _spec(**evaluation):
    body = run_body(evaluation={"enabled": True, "taskForceSizes": [1, 2], **evaluation})  # the archive holds 2
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
    assert not any(e["name"] == "HF_TOKEN" for p in ("plan", "000", "summary") for e in envs[p])
    assert all({"name": "HF_HUB_OFFLINE", "value": "1"} in envs[p] for p in ("plan", "000", "summary"))
    command = jobs["export"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:3] == ["acdc", "export", "/state"] and "nvidia.com/gpu" not in str(jobs["export"])


def _env(job) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_evaluation_jobs_run_offline_against_the_cache_that_the_prefetch_job_fills():
    spec = _spec(prefetch=True, datasetCache="hf-cache")
    prefetch = build_evaluation_job(REF, spec, 1, "prefetch")
    kubernetes_validate.validate(prefetch, K8S, strict=True)
    assert prefetch["spec"]["template"]["spec"]["containers"][0]["command"][-1] == "--prefetch"
    assert {k: _env(prefetch)[k] for k in ("HF_HOME", "HF_DATASETS_CACHE", "HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")} \
        == {"HF_HOME": "/state/hf-cache", "HF_DATASETS_CACHE": "/state/hf-cache/datasets",
            "HF_DATASETS_OFFLINE": "0", "HF_HUB_OFFLINE": "0"}
    for part in ("plan", "000", "summary"):
        env = _env(build_evaluation_job(REF, spec, 1, part))
        assert env["HF_HOME"] == "/state/hf-cache" and env["HF_DATASETS_CACHE"] == "/state/hf-cache/datasets"
        assert env["HF_DATASETS_OFFLINE"] == env["HF_HUB_OFFLINE"] == "1", part


class _Jobs:
    """The two Kube calls the stage makes, over Jobs a test finishes by hand (and their pods)."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict] = {}
        self.pods: list[dict] = []

    def list(self, res, namespace, labels):
        return self.pods if res == PODS else list(self.jobs.values())

    def create(self, job) -> bool:
        """Stores the Job with a uid, as the API server gives it: its pods are known by that uid."""
        part = job["metadata"]["labels"]["acdc.dev/evaluation"]
        job["metadata"]["uid"] = f"uid-{part}"
        self.jobs.setdefault(part, job)
        return True

    def finish(self, part: str, message: str | None = None) -> None:
        """Complete, with a pod that wrote ``message`` to its termination log (None: no pod left)."""
        self.jobs[part]["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
        if message is not None:
            meta = self.jobs[part]["metadata"]
            labels = {"batch.kubernetes.io/job-name": meta["name"], "batch.kubernetes.io/controller-uid": meta["uid"]}
            self.pods.append({"metadata": {"labels": labels}, "status": {
                "containerStatuses": [{"name": "phase", "state": {"terminated": {"exitCode": 0, "message": message}}}]}})


def test_the_prefetch_job_comes_first_and_plan_waits_for_it():
    from acdc.controller.evaluation_stage import advance_evaluation

    kube, status = _Jobs(), {"phase": "Succeeded", "generation": 1}
    step = lambda spec: advance_evaluation(kube, REF, spec, status, lambda *a: None, [])  # noqa: E731
    step(_spec(prefetch=True))
    assert list(kube.jobs) == ["prefetch"]
    step(_spec(prefetch=True))
    assert list(kube.jobs) == ["prefetch"]  # still running: nothing else yet
    kube.finish("prefetch")
    step(_spec(prefetch=True))
    assert list(kube.jobs) == ["prefetch", "plan"]
    without = _Jobs()
    advance_evaluation(without, REF, _spec(), {"phase": "Succeeded", "generation": 1}, lambda *a: None, [])
    assert list(without.jobs) == ["plan"]


@pytest.mark.parametrize("message", [None, "garbage{not json", '{"shards": "two"}', "{}"])
def test_a_plan_without_a_readable_shard_count_fails_the_stage(message):
    """Read as 0 shards, a lost plan result ran no shard and summarised an empty evaluation."""
    from acdc.controller.evaluation_stage import advance_evaluation

    kube, status, said = _Jobs(), {"phase": "Succeeded", "generation": 1}, []
    step = lambda: advance_evaluation(kube, REF, _spec(), status, lambda *a: said.append(a), [])  # noqa: E731
    step()
    kube.finish("plan", message)
    step()
    assert status["evaluation"]["phase"] == "Failed" and "'shards'" in status["evaluation"]["message"]
    assert list(kube.jobs) == ["plan"] and said[-1][1] == "EvaluationFailed"
    readable = _Jobs()
    advance_evaluation(readable, REF, _spec(), {"phase": "Succeeded", "generation": 1}, lambda *a: None, [])
    readable.finish("plan", '{"shards": 2}')
    advance_evaluation(readable, REF, _spec(), {"phase": "Succeeded", "generation": 1}, lambda *a: None, [])
    assert list(readable.jobs) == ["plan", "000", "001"]


@pytest.mark.parametrize("owner", [{"uid": "uid-earlier-run", "controller": True}, None])
def test_a_job_with_the_stage_labels_that_is_not_the_runs_is_never_its_part(owner):
    """A failed plan Job carrying the stage's labels, left by an earlier run of the same name
    (deleted and created again, its garbage not collected yet) or made by hand without an owner:
    read as the run's, it failed the stage and a resume deleted it. The run creates its own."""
    from acdc.controller.evaluation_stage import advance_evaluation, resume_evaluation

    kube, status = _Jobs(), {"phase": "Succeeded", "generation": 1}
    stray = build_evaluation_job(REF, _spec(), 1, "plan")
    stray["metadata"]["ownerReferences"] = [{**stray["metadata"]["ownerReferences"][0], **owner}] if owner else []
    stray["status"] = {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}
    kube.jobs["stray"] = stray
    advance_evaluation(kube, REF, _spec(), status, lambda *a: None, [])
    assert status["evaluation"] == {"phase": "Running"} and list(kube.jobs) == ["stray", "plan"]
    kube.jobs.pop("plan")
    deleted: list[str] = []
    kube.delete = lambda res, namespace, name, uid=None: deleted.append(name)  # type: ignore[method-assign]
    assert resume_evaluation(kube, REF, {"evaluation": {"phase": "Failed"}}) == [] and not deleted


def test_an_export_to_another_claim_mounts_it_in_the_export_job_only():
    from acdc.controller.tenancy import references

    spec = _spec(export={"claim": "results", "directory": "demo-taskforce"})
    jobs = {part: build_evaluation_job(REF, spec, 1, part) for part in ("plan", "000", "summary", "export")}
    kubernetes_validate.validate(jobs["export"], K8S, strict=True)
    pod = jobs["export"]["spec"]["template"]["spec"]
    assert {"name": "export", "persistentVolumeClaim": {"claimName": "results"}} in pod["volumes"]
    assert {"name": "export", "mountPath": "/export"} in pod["containers"][0]["volumeMounts"]
    assert not any("results" in str(jobs[p]) for p in ("plan", "000", "summary"))
    assert ("PersistentVolumeClaim", "results", "spec.evaluation.export.claim") in references(spec)
    with pytest.raises(Exception, match="exactly one destination"):
        _spec(export={"claim": "results", "repo": "a/b"})
