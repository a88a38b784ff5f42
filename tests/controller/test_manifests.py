"""Every manifest the operator builds validates against the Kubernetes schema (strict)."""

from __future__ import annotations

import kubernetes_validate
import pytest

from acdc.controller import names, rbac
from acdc.controller.job_manifest import build_job
from acdc.controller.reconcile import infra_manifests, parse_spec
from acdc.controller.run_ref import RunRef
from acdc.phases.dag import Phase, Step
from acdc.spec import load_run
from tests.controller.cluster import run_body

K8S = "1.33"
REF = RunRef("demo", "ml", "0b0b0b0b-0000-0000-0000-000000000000")
DEPLOYED = {"kind": "llm", "endpoint": {"deploy": {"model": "Qwen/Qwen2.5-7B-Instruct", "gpus": 2, "tensorParallel": 2}}}


def spec(**overrides):
    return parse_spec(run_body(**overrides))


def validate(manifest: dict) -> None:
    kubernetes_validate.validate(manifest, K8S, strict=True)


@pytest.mark.parametrize("phase", list(Phase))
def test_every_phase_job_validates(phase):
    merge = {"gpus": 1, "tolerations": [{"key": "gpu", "operator": "Exists"}], "nodeSelector": {"pool": "a100"},
             "priorityClassName": "batch"}
    run_spec = spec(resources={"kueueQueueName": "gpu", "merge": merge},
                    sandbox={"runtimeClassName": "gvisor"})
    validate(build_job(REF, run_spec, Step(3, phase, 2 if phase.droppable else None), "demo-state"))


def test_merge_job_requests_gpus_and_carries_scheduling():
    run_spec = spec(resources={"kueueQueueName": "gpu", "merge": {"gpus": 2, "nodeSelector": {"pool": "a100"}}})
    job = build_job(REF, run_spec, Step(1, Phase.MERGE, 0), "demo-state")
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert pod["nodeSelector"] == {"pool": "a100"}
    assert job["metadata"]["labels"][names.LABEL_KUEUE_QUEUE] == "gpu"
    assert job["metadata"]["ownerReferences"][0]["uid"] == REF.uid
    assert job["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [3, 75]


def test_score_jobs_are_locked_down():
    job = build_job(REF, spec(sandbox={"runtimeClassName": "gvisor"}), Step(1, Phase.SCORE, 0), "demo-state")
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["runtimeClassName"] == "gvisor" and pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert job["spec"]["template"]["metadata"]["labels"][names.LABEL_SANDBOXED] == "true"


def test_infrastructure_validates_and_jobs_see_service_urls():
    run_spec = spec(scientist=DEPLOYED, judge={"endpoint": {"deploy": {"model": "judge-model", "gpus": 1}}},
                    embedding={"kind": "endpoint", "endpoint": {"deploy": {"model": "bge", "gpus": 1}}})
    manifests = infra_manifests(REF, run_spec)
    kinds = sorted(m["kind"] for m in manifests)
    assert kinds == ["ConfigMap", "Deployment", "Deployment", "Deployment", "NetworkPolicy", "PersistentVolumeClaim",
                     "Service", "Service", "Service"]
    for manifest in manifests:
        validate(manifest)
    configmap = next(m for m in manifests if m["kind"] == "ConfigMap")
    assert "http://demo-scientist.ml.svc:8000/v1" in configmap["data"]["run.yaml"]
    policy = next(m for m in manifests if m["kind"] == "NetworkPolicy")
    assert policy["spec"]["egress"][1]["to"][0]["podSelector"]["matchLabels"][names.LABEL_SERVER] == "judge"


def test_spec_configmap_round_trips_through_load_run(tmp_path):
    run_spec = spec(scientist=DEPLOYED)
    configmap = next(m for m in infra_manifests(REF, run_spec) if m["kind"] == "ConfigMap")
    (tmp_path / "run.yaml").write_text(configmap["data"]["run.yaml"])
    loaded = load_run(tmp_path / "run.yaml")
    assert loaded.spec.scientist.endpoint.url == "http://demo-scientist.ml.svc:8000/v1"
    assert loaded.spec.seed == run_spec.seed


def test_existing_claim_is_used_and_not_created():
    run_spec = spec(storage={"existingClaim": "shared"})
    assert "PersistentVolumeClaim" not in {m["kind"] for m in infra_manifests(REF, run_spec)}
    job = build_job(REF, run_spec, Step(0, Phase.PLAN), "shared")
    assert job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "shared"


def test_long_run_names_give_valid_job_names():
    long_ref = RunRef("r" * 52, "ml", REF.uid)
    job = build_job(long_ref, spec(), Step(1234, Phase.REEVALUATE, 17), "x")
    assert len(job["metadata"]["name"]) <= 63
    validate(job)


@pytest.mark.parametrize("scope", ["namespaced", "cluster"])
def test_rbac_roles_validate(scope):
    validate(rbac.role("acdc", "ml") if scope == "namespaced" else rbac.cluster_role("acdc"))
    assert any("jobs" in rule["resources"] for rule in rbac.rules(scope))


def test_strict_validation_catches_a_misspelt_key():
    job = build_job(REF, spec(), Step(0, Phase.PLAN), "demo-state")
    job["spec"]["backofLimit"] = job["spec"].pop("backoffLimit")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(job)
