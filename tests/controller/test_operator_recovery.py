"""The real operator against kmock when a run goes wrong: it fails loudly, resumes when asked,
and never stalls, loses its outcome or records somebody else's Job."""

from __future__ import annotations

import asyncio

import kmock
import pytest
from kmock._internal.k8s import KubernetesError

from acdc.controller import names
from acdc.steps import Phase, Step
from tests.controller.cluster import JOBS, NAMESPACE, OOM_KILLED, fake_phase, kubelet, operator, run_body, run_object, wait_for
from tests.controller.test_job_outcome import policy
from tests.controller.test_operator_run import condition, create_run, job_names, patch_spec, phase_of
from tests.controller.test_waiting import patch_job

RUN_URL = f"/apis/acdc.dev/v1alpha1/namespaces/{NAMESPACE}/coevolutionruns/demo"


def failing_once(step_name: str, code: int):
    """The fake phases, except that ``step_name`` exits with ``code`` the first time it runs."""
    failed: list[str] = []

    def phase(state, step, run_yaml):
        if step.name == step_name and not failed:
            failed.append(step.name)
            return code, None
        return fake_phase(state, step, run_yaml)
    return phase


async def annotate(cluster, key: str, value: str) -> None:
    async with cluster.patch(RUN_URL, json={"metadata": {"annotations": {key: value}}}) as response:
        assert response.status < 300, await response.text()


async def test_a_failed_run_resumes_when_annotated_and_runs_its_failed_step_again(cluster, state):
    """An infrastructure fault fails the run; after the fix the user resumes it, as `acdc run`
    again resumes a local run: the failed step's Job runs once more, nothing else is redone."""
    async with kubelet(cluster, state, failing_once("g0000-merge-02", 75)) as player, operator():
        body = run_body()
        body["metadata"]["annotations"] = {names.RESUME_ANNOTATION: "before"}  # set while running: never resumes by itself
        await create_run(cluster, body)
        await wait_for(lambda: phase_of(cluster) == "Failed")
        failed = condition(cluster, "Failed")
        assert "g0000-merge-02" in failed["message"] and names.RESUME_ANNOTATION in failed["message"]
        await asyncio.sleep(0.5)
        assert phase_of(cluster) == "Failed"
        await annotate(cluster, names.RESUME_ANNOTATION, "1")
        await wait_for(lambda: phase_of(cluster) == "Succeeded")
    assert player.attempts["demo-g0000-merge-02"] == 2
    assert all(count == 1 for name, count in player.attempts.items() if name != "demo-g0000-merge-02")
    assert condition(cluster, "Failed")["reason"] == "Resumed"
    assert run_object(cluster)["status"]["resumed"] == "1"


async def test_a_typo_in_a_finished_runs_spec_leaves_it_succeeded(cluster, state):
    async with kubelet(cluster, state, fake_phase), operator():
        await create_run(cluster, run_body())
        await wait_for(lambda: phase_of(cluster) == "Succeeded")
        before = run_object(cluster)["status"]
        await patch_spec(cluster, {"population": {"size": 1}})
        await wait_for(lambda: condition(cluster, "Degraded").get("reason") == "InvalidSpec")
        assert phase_of(cluster) == "Succeeded" and condition(cluster, "Failed").get("status") != "True"
        await patch_spec(cluster, {"population": run_body()["spec"]["population"]})
        await wait_for(lambda: condition(cluster, "Degraded").get("status") == "False")
    after = run_object(cluster)["status"]
    for key in ("phase", "generation", "coverageStaleGenerations", "archive", "completionTime"):
        assert after.get(key) == before.get(key), key


async def test_lowering_generations_below_the_one_in_progress_is_refused(cluster, state):
    """Every phase Job would refuse a generation past the spec's last (exit 2), dropping
    children and failing the run; the edit is refused instead, and reverting it continues."""
    async with kubelet(cluster, state, fake_phase) as player, operator():
        await create_run(cluster, run_body())
        await wait_for(lambda: any(name.startswith("demo-g0001") for name in job_names(cluster)))
        player.paused = True
        await patch_spec(cluster, {"population": {**run_body()["spec"]["population"], "generations": 0}})
        await wait_for(lambda: condition(cluster, "Degraded").get("reason") == "SpecChangeRefused")
        assert "population.generations" in condition(cluster, "Degraded")["message"]
        await patch_spec(cluster, {"population": run_body()["spec"]["population"]})
        player.paused = False
        await wait_for(lambda: phase_of(cluster) == "Succeeded")
    assert run_object(cluster)["status"]["generation"] == 1


async def test_a_leftover_job_of_an_earlier_run_of_the_same_name_is_never_its_outcome(cluster, state):
    leftover = {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "demo-g0000-init", "namespace": NAMESPACE,
                             "labels": {**names.step_labels("demo", Step(0, Phase.INIT)), **names.MANAGED_BY},
                             "ownerReferences": [{"apiVersion": "acdc.dev/v1alpha1", "kind": "CoevolutionRun",
                                                  "name": "demo", "uid": "uid-old", "controller": True}]},
                "spec": {"template": {"spec": {"containers": []}}},
                "status": {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}}
    async with cluster.post(f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs", json=leftover) as response:
        assert response.status < 300, await response.text()
    async with kubelet(cluster, state, fake_phase), operator():
        await create_run(cluster, run_body())
        await wait_for(lambda: condition(cluster, "Admitted").get("reason") == "ObjectNotOwned")
        assert "g0000-init" not in run_object(cluster)["status"].get("progress", {})
        async with cluster.delete(f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/demo-g0000-init") as response:
            assert response.status < 300, await response.text()
        await wait_for(lambda: phase_of(cluster) == "Succeeded")


async def test_a_job_the_api_server_refuses_says_why_the_run_waits(cluster, state):
    """A ResourceQuota on the Job count answers 403 to every create: the run says so, and goes
    on once the quota allows."""
    refusing = [True]

    async def quota(request):
        if refusing[0] and request.method == kmock.method.POST and request.url.path.endswith("/jobs"):
            return KubernetesError(status=403, reason="Forbidden", message="exceeded quota: count/jobs.batch=0")
        return None
    cluster.interpose = quota
    async with kubelet(cluster, state, fake_phase), operator():
        await create_run(cluster, run_body())
        await wait_for(lambda: condition(cluster, "Waiting").get("reason") == "JobRefused")
        assert "exceeded quota" in condition(cluster, "Waiting")["message"]
        assert not job_names(cluster)
        refusing[0] = False
        await wait_for(lambda: phase_of(cluster) == "Succeeded")


async def test_a_generation_its_records_cannot_close_fails_the_run(cluster, state):
    """A select recorded as dropped (no select is ever droppable) leaves nothing to run: the
    run fails with a reason instead of sitting in Running."""
    async with kubelet(cluster, state, failing_once("g0000-select", 3)), operator():
        await create_run(cluster, run_body())
        await wait_for(lambda: phase_of(cluster) == "Failed")
    assert "g0000-select" in condition(cluster, "Failed")["message"]
    assert not any(name.startswith("demo-g0001") for name in job_names(cluster))


async def test_a_resumed_job_is_judged_by_its_own_pods_and_the_failed_one_still_counts_its_gpu_hours(cluster, state):
    """A child's Job runs out of memory in every attempt: the run fails (OOMKilled). The resume
    deletes the Job and creates it again under the same name; this time the child crashes and
    its pods are gone by the time the operator looks, while the deleted Job's OOMKilled pods are
    still there (garbage collection has not reached them). The new Job is judged by its own
    pods (none): the child is dropped and the run goes on, not failed again by an old pod. The
    deleted Job's GPU-hours stay in status.gpuHours: every attempt of every GPU Job counts once."""
    first: list[str] = []

    def phase(state, step, run_yaml):
        if step.name == "g0000-merge-02":
            return (OOM_KILLED, None) if len(first) < 3 and not first.append(step.name) else (1, None)
        return fake_phase(state, step, run_yaml)

    async with kubelet(cluster, state, phase) as player, operator():
        await create_run(cluster, run_body())
        await wait_for(lambda: phase_of(cluster) == "Failed")
        assert "g0000-merge-02 failed (OOMKilled)" in condition(cluster, "Failed")["message"]
        player.pods_lost.add("demo-g0000-merge-02")
        await annotate(cluster, names.RESUME_ANNOTATION, "1")
        await wait_for(lambda: run_object(cluster)["status"].get("resumed") == "1")
        await wait_for(lambda: phase_of(cluster) in ("Succeeded", "Failed"))
    assert phase_of(cluster) == "Succeeded", condition(cluster, "Failed")
    assert player.attempts["demo-g0000-merge-02"] == 6  # backoffLimit 2: three attempts in each Job
    gpu_attempts = sum(count for name, count in player.attempts.items() if "-merge-" in name or "-evaluate-" in name)
    assert run_object(cluster)["status"]["gpuHours"] == gpu_attempts  # one GPU, one hour an attempt
    assert "failedJobsCounted" not in run_object(cluster)["status"]


async def test_a_job_that_failed_after_the_run_counts_its_gpu_hours_once_across_a_crash_of_the_resume(cluster, state):
    """Two children run; one fails the run, the other fails afterwards (5 GPU-hours). The resume
    counts the second's hours and saves them before deleting its Job: the pass then dies before
    its status lands (a crash between the deletes and the patch, played by a 500), and the pass
    that resumes again finds the Jobs gone, yet the hours are in status, once."""
    late = "demo-g0000-merge-03"
    seen: list[str] = []

    async def crash_after_the_deletes(request):
        path = str(request.url.path)
        if request.method == kmock.method.DELETE and path.endswith(f"/jobs/{late}"):
            seen.append("deleted")
        elif seen == ["deleted"] and request.method == kmock.method.PATCH and path == f"{RUN_URL}/status":
            seen.append("crashed")
            return KubernetesError(status=500, reason="Crash", message="the operator died before this patch")
        return None
    cluster.interpose = crash_after_the_deletes
    async with kubelet(cluster, state, failing_once("g0000-merge-02", 75)) as player, operator():
        player.held.add(late)
        await create_run(cluster, run_body(population={**run_body()["spec"]["population"], "initialSize": 4}))
        await wait_for(lambda: phase_of(cluster) == "Failed")
        assert "g0000-merge-02 failed (InfrastructureFault)" in condition(cluster, "Failed")["message"]
        await patch_job(cluster, late, {"status": {"failed": 1, "startTime": "2026-01-01T00:00:00Z", "conditions": [
            {"type": "Failed", "status": "True", "reason": "PodFailurePolicy", "message": policy(75),
             "lastTransitionTime": "2026-01-01T05:00:00Z"}]}}, status=True)
        player.held.discard(late)
        await annotate(cluster, names.RESUME_ANNOTATION, "1")
        await wait_for(lambda: phase_of(cluster) in ("Succeeded", "Failed") and run_object(cluster)["status"]
                       .get("resumed") == "1")
    assert seen == ["deleted", "crashed"] and phase_of(cluster) == "Succeeded", condition(cluster, "Failed")
    gpu_attempts = sum(count for name, count in player.attempts.items() if "-merge-" in name or "-evaluate-" in name)
    assert run_object(cluster)["status"]["gpuHours"] == gpu_attempts + 5


@pytest.mark.parametrize("held_by_a_pod", [False, True], ids=["gone", "terminating"])
async def test_a_volume_deleted_mid_run_fails_the_run_before_its_next_step(cluster, state, held_by_a_pod):
    """The state PVC is deleted while a child's Job runs: gone at once, or Terminating while a pod
    still mounts it (the pvc-protection finalizer). No later step may start on it (the run went
    on to Succeeded, noticing only at the next infrastructure refresh, ten minutes later): the
    run fails with VolumeLost as the child's Job finishes."""
    merge = "demo-g0000-merge-02"
    claim = f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims/{names.claim('demo')}"
    async with kubelet(cluster, state, fake_phase) as player, operator():
        player.held.add(merge)
        await create_run(cluster, run_body())
        await wait_for(lambda: merge in job_names(cluster))
        if held_by_a_pod:
            async with cluster.patch(claim, json={"metadata": {"finalizers": ["kubernetes.io/pvc-protection"]}}) as response:
                assert response.status < 300, await response.text()
        async with cluster.delete(claim) as response:
            assert response.status < 300, await response.text()
        player.held.discard(merge)
        await wait_for(lambda: phase_of(cluster) in ("Succeeded", "Failed"))
    failed = condition(cluster, "Failed")
    assert failed.get("reason") == "VolumeLost", failed
    assert ("is being deleted" if held_by_a_pod else "is gone") in failed["message"]
    assert "demo-g0000-evaluate-02" not in job_names(cluster)


async def test_a_step_kueue_never_admits_fails_the_run_at_the_admission_timeout_and_a_resume_queues_it_again(
        cluster, state):
    """Kueue holds the init Job suspended past spec.resources.kueueAdmissionTimeoutSeconds: a
    suspended Job has no deadline running, and the run stayed Running, WaitingForAdmission, for
    ever. It fails (AdmissionTimeout) naming the step and queue; a resume deletes the waiting Job,
    so it is queued afresh with its wait counted from then, and the run goes on once admitted."""
    init = "demo-g0000-init"

    async def admit_all() -> None:
        """Kueue admitting every Job it holds. A Job the operator deletes between this loop's
        listing and its patch (a generation closing) is skipped: the failed patch ended this loop
        and left every later Job suspended, a stall seen once under load."""
        while True:
            for name in job_names(cluster):
                if cluster.objects[JOBS, NAMESPACE, name].raw["spec"].get("suspend"):
                    await patch_job(cluster, name, {"spec": {"suspend": False}}, gone_ok=True)
            await asyncio.sleep(0.05)

    async with kubelet(cluster, state, fake_phase), operator():
        await create_run(cluster, run_body(resources={"kueueQueueName": "gpu", "kueueAdmissionTimeoutSeconds": 3600}))
        await wait_for(lambda: condition(cluster, "Waiting").get("reason") == "WaitingForAdmission")
        first = cluster.objects[JOBS, NAMESPACE, init].raw["metadata"]["uid"]
        await patch_job(cluster, init, {"status": {"conditions": [  # as the Job controller marks it, long ago
            {"type": "Suspended", "status": "True", "reason": "JobSuspended",
             "lastTransitionTime": "2000-01-01T00:00:00Z"}]}}, status=True)
        await wait_for(lambda: phase_of(cluster) == "Failed")
        failed = condition(cluster, "Failed")
        assert failed["reason"] == "AdmissionTimeout", failed
        assert "g0000-init has waited for Kueue admission in queue gpu" in failed["message"]
        assert names.RESUME_ANNOTATION in failed["message"]
        await annotate(cluster, names.RESUME_ANNOTATION, "1")
        await wait_for(lambda: init in job_names(cluster) and cluster.objects[JOBS, NAMESPACE, init].raw["metadata"]
                       ["uid"] != first)
        await wait_for(lambda: condition(cluster, "Waiting").get("reason") == "WaitingForAdmission")
        assert phase_of(cluster) == "Running"
        admitting = asyncio.create_task(admit_all())
        try:
            await wait_for(lambda: phase_of(cluster) in ("Succeeded", "Failed"))
        finally:
            admitting.cancel()
    assert phase_of(cluster) == "Succeeded", condition(cluster, "Failed")


async def test_a_job_past_a_deadline_nothing_enforces_fails_the_run_and_a_resume_runs_it_again(cluster, state, monkeypatch):
    """The plan's Job passes its activeDeadlineSeconds and no Job controller ends it (down, or the
    Job handed to another controller): every bound on a step rests on that deadline, and the run
    waited for ever, Running. Past the deadline and a grace the run fails (DeadlineNotEnforced);
    a resume deletes the Job and runs the step afresh."""
    monkeypatch.setenv("ACDC_DEADLINE_GRACE_SECONDS", "1")
    plan = "demo-g0000-plan"
    async with kubelet(cluster, state, fake_phase) as player, operator():
        player.held.add(plan)
        await create_run(cluster, run_body(phases={"plan": {"activeDeadlineSeconds": 1}}))
        await wait_for(lambda: plan in job_names(cluster))
        first = cluster.objects[JOBS, NAMESPACE, plan].raw["metadata"]["uid"]
        await wait_for(lambda: phase_of(cluster) == "Failed")
        failed = condition(cluster, "Failed")
        assert failed["reason"] == "DeadlineNotEnforced", failed
        assert "g0000-plan's Job passed its deadline" in failed["message"]
        await patch_spec(cluster, {"phases": {"plan": {"activeDeadlineSeconds": 3600}}})
        await annotate(cluster, names.RESUME_ANNOTATION, "1")
        await wait_for(lambda: plan in job_names(cluster) and cluster.objects[JOBS, NAMESPACE, plan].raw["metadata"]
                       ["uid"] != first)
        player.held.discard(plan)
        await wait_for(lambda: phase_of(cluster) in ("Succeeded", "Failed") and run_object(cluster)["status"]
                       .get("resumed") == "1")
    assert phase_of(cluster) == "Succeeded", condition(cluster, "Failed")
    assert player.attempts[plan] == 1  # only the Job created on resume ran
