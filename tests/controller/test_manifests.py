"""Every manifest the operator builds validates against the Kubernetes schema (strict)."""

from __future__ import annotations

import kubernetes_validate
import pytest

from acdc.controller import names, rbac
from acdc.controller.job_manifest import TASK_CODE_PHASES, build_job
from acdc.controller.reconcile import infra_manifests, parse_spec
from acdc.controller.run_ref import RunRef
from acdc.spec import load_run
from acdc.steps import Phase, Step
from tests.controller.cluster import run_body
from tests.controller.pod_security import restricted_violations, selects

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


def test_jobs_reading_their_generations_outputs_are_told_which_steps_were_given_up():
    """The operator keeps a given-up step's record in status, not on the volume: a Job that reads
    the generation's per-model outputs must know which steps have none by design (any other step
    without outputs lost them). Other Jobs' commands do not change with the run's drops."""
    given_up = ["g0001-score-03", "g0001-evaluate-02"]
    for phase in (Phase.SELECT, Phase.SYNC, Phase.TASKS):
        command = build_job(REF, spec(), Step(1, phase), "demo-state", given_up)["spec"]["template"]["spec"]
        assert command["containers"][0]["command"][-4:] == ["--given-up", "g0001-evaluate-02",
                                                            "--given-up", "g0001-score-03"]
    for step in (Step(1, Phase.MERGE, 2), Step(1, Phase.PLAN)):
        assert build_job(REF, spec(), step, "demo-state", given_up) == build_job(REF, spec(), step, "demo-state")


def test_merge_job_requests_gpus_and_carries_scheduling():
    run_spec = spec(resources={"kueueQueueName": "gpu", "merge": {"gpus": 2, "nodeSelector": {"pool": "a100"}}})
    job = build_job(REF, run_spec, Step(1, Phase.MERGE, 0), "demo-state")
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert pod["nodeSelector"] == {"pool": "a100"}
    assert job["metadata"]["labels"][names.LABEL_KUEUE_QUEUE] == "gpu"
    assert job["metadata"]["ownerReferences"][0]["uid"] == REF.uid
    assert job["spec"]["podFailurePolicy"]["rules"][1]["onExitCodes"]["values"] == [3, 75]


def test_a_disrupted_pod_costs_no_retry_whatever_it_exited_with():
    """Evictions, preemptions and drains are ignored before the exit codes are read: a pod stopped
    that way (its phase may exit 75, a lost worker) is re-created, neither dropped nor failed."""
    rules = build_job(REF, spec(), Step(1, Phase.MERGE, 0), "demo-state")["spec"]["podFailurePolicy"]["rules"]
    assert rules[0] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
    assert [rule["action"] for rule in rules] == ["Ignore", "FailJob"]


def test_score_jobs_are_locked_down():
    job = build_job(REF, spec(sandbox={"runtimeClassName": "gvisor"}), Step(1, Phase.SCORE, 0), "demo-state")
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["runtimeClassName"] == "gvisor" and pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert job["spec"]["template"]["metadata"]["labels"][names.LABEL_SANDBOXED] == "true"


@pytest.mark.parametrize("phase", sorted(TASK_CODE_PHASES))
def test_pods_that_run_task_code_are_locked_down(phase):
    """Validation (tasks), materialisation (evaluate) and scoring run LLM-written code: read-only
    root, the sandbox's pod profiles, the NetworkPolicy where the phase needs no scientist, no
    key the phase does not use, and the task folders read-only where the phase only reads them."""
    run_spec = spec(scientist={"kind": "llm", "endpoint": {"url": "http://llm:8000/v1", "model": "m",
                                                            "apiKeySecret": {"name": "keys", "key": "scientist"}}},
                    judge={"endpoint": {"url": "http://judge:8000/v1", "model": "j",
                                        "apiKeySecret": {"name": "keys", "key": "judge"}}},
                    sandbox={"runtimeClassName": "gvisor", "seccompProfile": "profiles/acdc-bwrap.json",
                             "appArmorProfile": "acdc-bwrap"})
    job = build_job(REF, run_spec, Step(2, phase, 0 if phase.droppable else None), "demo-state")
    validate(job)
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["runtimeClassName"] == "gvisor" and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "Localhost",
                                                        "localhostProfile": "profiles/acdc-bwrap.json"}
    assert pod["securityContext"]["appArmorProfile"]["localhostProfile"] == "acdc-bwrap"
    keys = sorted(e["name"] for e in container["env"] if "valueFrom" in e)
    labels = job["spec"]["template"]["metadata"]["labels"]
    if phase is Phase.TASKS:
        assert keys == ["ACDC_JUDGE_API_KEY", "ACDC_SCIENTIST_API_KEY"]
        assert names.LABEL_SANDBOXED not in labels
    else:
        assert labels[names.LABEL_SANDBOXED] == "true"
        assert keys == ([] if phase in (Phase.EVALUATE, Phase.REEVALUATE) else ["ACDC_JUDGE_API_KEY"])
    state_mounts = {m["mountPath"]: m for m in container["volumeMounts"] if m["name"] == "state"}
    if phase in (Phase.SCORE, Phase.RESCORE):
        assert state_mounts["/state/tasks"] == {"name": "state", "mountPath": "/state/tasks", "subPath": "tasks",
                                                "readOnly": True}
    else:
        assert list(state_mounts) == ["/state"]


def test_pods_without_task_code_keep_the_default_profile():
    run_spec = spec(sandbox={"seccompProfile": "profiles/acdc-bwrap.json"})
    pod = build_job(REF, run_spec, Step(1, Phase.MERGE, 0), "demo-state")["spec"]["template"]["spec"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is False


def test_infrastructure_validates_and_jobs_see_service_urls():
    run_spec = spec(scientist=DEPLOYED, judge={"endpoint": {"deploy": {"model": "judge-model", "gpus": 1}}},
                    embedding={"kind": "endpoint", "endpoint": {"deploy": {"model": "bge", "gpus": 1}}})
    manifests = infra_manifests(REF, run_spec)
    kinds = sorted(m["kind"] for m in manifests)
    assert kinds == ["ConfigMap", "Deployment", "Deployment", "Deployment", "NetworkPolicy", "NetworkPolicy",
                     "PersistentVolumeClaim", "Service", "Service", "Service"]
    for manifest in manifests:
        validate(manifest)
    configmap = next(m for m in manifests if m["kind"] == "ConfigMap")
    assert "http://demo-scientist.ml.svc:8000/v1" in configmap["data"]["run.yaml"]
    policy = next(m for m in manifests if m["metadata"]["name"] == names.sandbox_policy("demo"))
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
    secrets = [rule for rule in rbac.rules(scope) if "secrets" in rule["resources"]]
    assert [rule["verbs"] for rule in secrets] == [["get"]]  # one annotation at a time, never a list of Secrets


def test_strict_validation_catches_a_misspelt_key():
    job = build_job(REF, spec(), Step(0, Phase.PLAN), "demo-state")
    job["spec"]["backofLimit"] = job["spec"].pop("backoffLimit")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(job)


SERVERS = {"scientist": DEPLOYED, "judge": {"endpoint": {"deploy": {"model": "judge-model", "gpus": 1}}}}


def servers_infra() -> dict[str, dict]:
    return {f"{m['kind']}/{m['metadata']['name']}": m for m in infra_manifests(REF, spec(**SERVERS))}


@pytest.mark.parametrize("phase", list(Phase))
def test_every_phase_pod_meets_the_restricted_pod_security_standard(phase):
    job = build_job(REF, spec(), Step(1, phase, 0 if phase.droppable else None), "demo-state")
    assert restricted_violations(job["spec"]["template"]["spec"]) == []


def test_server_pods_are_restricted_without_token_and_read_only():
    deployment = servers_infra()["Deployment/demo-scientist"]
    validate(deployment)
    pod = deployment["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/state"]["readOnly"] is True and volumes["state"]["persistentVolumeClaim"]["readOnly"] is True
    home = next(e["value"] for e in container["env"] if e["name"] == "HOME")
    writable = [path for path, mount in mounts.items() if "emptyDir" in volumes[mount["name"]]]
    assert home in writable and "/dev/shm" in writable  # vLLM's caches and NCCL's shared memory


def test_restricted_check_catches_a_root_privileged_pod():
    pod = servers_infra()["Deployment/demo-scientist"]["spec"]["template"]["spec"]
    pod["securityContext"] = {}
    pod["containers"][0]["securityContext"] = {"privileged": True}
    assert len(restricted_violations(pod)) == 5


def test_server_policy_admits_only_the_runs_own_pods():
    infra = servers_infra()
    policy = infra[f"NetworkPolicy/{names.server_policy('demo')}"]
    validate(policy)
    rules = policy["spec"]
    assert rules["policyTypes"] == ["Ingress"]
    (ingress,) = rules["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": 8000}]
    (peer,) = ingress["from"]
    assert set(peer) == {"podSelector"}  # this namespace only
    for role in SERVERS:
        assert selects(rules["podSelector"], infra[f"Deployment/demo-{role}"]["spec"]["template"]["metadata"]["labels"])
    own_pods = [build_job(REF, spec(**SERVERS), Step(0, phase, 0 if phase.droppable else None), "demo-state")
                ["spec"]["template"]["metadata"]["labels"] for phase in (Phase.TASKS, Phase.SCORE, Phase.EVALUATE)]
    assert all(selects(peer["podSelector"], labels) for labels in own_pods)
    other_run = build_job(RunRef("other", "ml", "x"), spec(), Step(0, Phase.SCORE, 0), "other-state")
    assert not selects(peer["podSelector"], other_run["spec"]["template"]["metadata"]["labels"])
    assert not selects(peer["podSelector"], {"app": "anything"})


def test_sandbox_dns_egress_goes_only_to_kube_dns_in_kube_system():
    policy = servers_infra()[f"NetworkPolicy/{names.sandbox_policy('demo')}"]
    dns = [rule for rule in policy["spec"]["egress"] if {"protocol": "UDP", "port": 53} in rule["ports"]]
    (rule,) = dns
    (peer,) = rule["to"]  # one peer: namespace AND pod selector must both match
    assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}
    assert peer["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    judge = [rule for rule in policy["spec"]["egress"] if rule not in dns]
    assert all("namespaceSelector" not in peer for rule in judge for peer in rule["to"])


def test_per_phase_retries_deadline_and_priority_override_the_resource_class():
    run_spec = spec(resources={"control": {"backoffLimit": 4, "priorityClassName": "batch"}},
                    phases={"select": {"backoffLimit": 0, "activeDeadlineSeconds": 120, "priorityClassName": "urgent"}})
    select = build_job(REF, run_spec, Step(1, Phase.SELECT), "demo-state")
    plan = build_job(REF, run_spec, Step(1, Phase.PLAN), "demo-state")  # same class, no override
    assert (select["spec"]["backoffLimit"], select["spec"]["activeDeadlineSeconds"]) == (0, 120)
    assert select["spec"]["template"]["spec"]["priorityClassName"] == "urgent"
    assert (plan["spec"]["backoffLimit"], plan["spec"]["activeDeadlineSeconds"]) == (4, 3600)
    assert plan["spec"]["template"]["spec"]["priorityClassName"] == "batch"
    validate(select)


def test_the_spec_has_a_policy_for_every_phase():
    from acdc.spec.run import PhasesSpec

    assert set(PhasesSpec.model_fields) == {phase.value for phase in Phase}
