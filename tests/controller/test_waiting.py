"""Why a run waits: the Waiting condition and Events name the reason and the step, from what the
scheduler, the kubelet and Kueue write on Jobs and pods (the test plays them); Kueue admission,
preemption and re-admission."""

from __future__ import annotations

import asyncio

import pytest

from tests.controller.cluster import JOBS, NAMESPACE, fake_phase, in_background, kubelet, operator, run_body, run_object, wait_for
from tests.controller.test_operator_run import condition, create_run, job_names, phase_of

EVENTS_PATH = f"/api/v1/namespaces/{NAMESPACE}/events"
JOB = "demo-g0000-init"


async def patch_job(cluster, name: str, body: dict, status: bool = False, gone_ok: bool = False) -> None:
    """Patch the Job ``name``; ``gone_ok``: one deleted meanwhile (404) is no failure."""
    url = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{name}" + ("/status" if status else "")
    async with cluster.patch(url, json=body) as response:
        assert response.status < 300 or (gone_ok and response.status == 404), await response.text()


async def put_pod(cluster, pod_status: dict, attempt: int, name: str = JOB, **metadata: object) -> None:
    """A pending pod of the Job ``name``, labelled as the Job controller labels it (``pod_status``
    may say otherwise; ``metadata`` adds fields such as a deletionTimestamp)."""
    job = cluster.objects[JOBS, NAMESPACE, name].raw
    labels = {**job["spec"]["template"]["metadata"]["labels"], "batch.kubernetes.io/job-name": name,
              "batch.kubernetes.io/controller-uid": job["metadata"]["uid"]}
    pod = {"apiVersion": "v1", "kind": "Pod", "status": {"phase": "Pending", **pod_status},
           "metadata": {"name": f"{name}-pending-{attempt}", "namespace": NAMESPACE, "labels": labels, **metadata}}
    async with cluster.post(f"/api/v1/namespaces/{NAMESPACE}/pods", json=pod) as response:
        assert response.status < 300, await response.text()


async def delete_pod(cluster, name: str) -> None:
    async with cluster.delete(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}") as response:
        assert response.status < 300, await response.text()


async def post_event(cluster, kind: str, name: str, reason: str, message: str) -> None:
    """A Warning Event about ``kind``/``name``, as the Job controller or the kubelet posts it."""
    event = {"apiVersion": "v1", "kind": "Event", "type": "Warning", "reason": reason, "message": message,
             "metadata": {"name": f"{name}.{reason.lower()}", "namespace": NAMESPACE},
             "involvedObject": {"kind": kind, "apiVersion": "batch/v1" if kind == "Job" else "v1", "name": name,
                                "namespace": NAMESPACE}}
    async with cluster.post(EVENTS_PATH, json=event) as response:
        assert response.status < 300, await response.text()


def events(cluster) -> list[dict]:
    """Events the operator posted (from the requests it made)."""
    return [request.data for request in cluster.log if request.method.value.upper() == "POST"
            and str(request.url.path).endswith("/events") and isinstance(request.data, dict)]


def unscheduled(message: str) -> dict:
    return {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]}


REASONS = [
    ("Unschedulable", unscheduled("0/4 nodes are available: 4 Insufficient nvidia.com/gpu."), "Insufficient nvidia.com/gpu"),
    ("WaitingForVolume", unscheduled("0/4 nodes are available: pod has unbound immediate PersistentVolumeClaims."),
     "unbound immediate PersistentVolumeClaims"),
    ("ImagePullBackOff", {"containerStatuses": [{"name": "phase", "state": {"waiting": {
        "reason": "ImagePullBackOff", "message": 'Back-off pulling image "acdc/worker:typo"'}}}]}, "acdc/worker:typo"),
    ("CreateContainerConfigError", {"containerStatuses": [{"name": "phase", "state": {"waiting": {
        "reason": "CreateContainerConfigError", "message": 'secret "llm-keys" not found'}}}]}, 'secret "llm-keys" not found'),
    ("ImagePullBackOff", {"containerStatuses": [{"name": "phase", "state": {"waiting": {
        "reason": "ErrImageNeverPull", "message": 'Container image "acdc/worker:local" is not present with pull policy '
                                                  'of Never'}}}]}, "ErrImageNeverPull: Container image"),
    ("CreateContainerError", {"containerStatuses": [{"name": "phase", "state": {"waiting": {
        "reason": "CreateContainerError", "message": "failed to create containerd task: exec format error"}}}]},
     "exec format error"),
    ("ContainerWaiting", {"containerStatuses": [{"name": "phase", "state": {"waiting": {
        "reason": "SomeFutureReason", "message": "the runtime says no"}}}]}, "SomeFutureReason: the runtime says no"),
    ("FailedMount", {"conditions": [{"type": "PodScheduled", "status": "True"}],
                     "containerStatuses": [{"name": "phase", "state": {"waiting": {"reason": "ContainerCreating"}}}]},
     'configmap "demo-spec" not found'),
]
POD_EVENTS = {"FailedMount": 'MountVolume.SetUp failed for volume "spec" : configmap "demo-spec" not found'}
"""What the kubelet says only in an Event on the pod."""


async def test_each_waiting_reason_is_a_condition_and_an_event_naming_the_step(cluster, state):
    async with kubelet(cluster, state) as player, operator():
        player.paused = True
        await create_run(cluster, run_body())
        await wait_for(lambda: JOB in job_names(cluster))
        await patch_job(cluster, JOB, {"status": {"active": 1, "ready": 0}}, status=True)
        for attempt, (reason, pod_status, words) in enumerate(REASONS):
            if reason in POD_EVENTS:
                await post_event(cluster, "Pod", f"{JOB}-pending-{attempt}", reason, POD_EVENTS[reason])
            await put_pod(cluster, pod_status, attempt)
            waiting = await wait_for(lambda r=reason: condition(cluster, "Waiting").get("reason") == r
                                     and condition(cluster, "Waiting"))
            assert waiting["status"] == "True" and "g0000-init" in waiting["message"] and words in waiting["message"]
            await wait_for(lambda r=reason: any(e.get("reason") == r and "g0000-init" in e.get("message", "")
                                                for e in events(cluster)))
        player.paused = False
        await wait_for(lambda: phase_of(cluster) == "Succeeded")
    assert condition(cluster, "Waiting")["status"] == "False"


QUOTA = ('Error creating: pods "demo-g0000-init-7xk2p" is forbidden: exceeded quota: compute, requested: '
         'requests.cpu=8, used: requests.cpu=30, limited: requests.cpu=32')


async def test_a_resource_quota_that_blocks_pod_creation_is_a_waiting_reason(cluster, state):
    """No Kueue: the namespace's ResourceQuota refuses the Job's pod. The Job controller says so only
    in a FailedCreate Event on the Job (the Job itself just has no pods); the run must say it too."""
    async with kubelet(cluster, state) as player, operator():
        player.paused = True
        await create_run(cluster, run_body())
        await wait_for(lambda: JOB in job_names(cluster))
        await post_event(cluster, "Job", JOB, "FailedCreate", QUOTA)
        await patch_job(cluster, JOB, {"status": {"startTime": "2026-01-01T00:00:00Z"}}, status=True)  # started, no pod
        waiting = await wait_for(lambda: condition(cluster, "Waiting").get("reason") == "QuotaExceeded"
                                 and condition(cluster, "Waiting"))
        assert "g0000-init" in waiting["message"] and "exceeded quota: compute" in waiting["message"]
        await wait_for(lambda: any(e.get("reason") == "QuotaExceeded" and "g0000-init" in e.get("message", "")
                                   for e in events(cluster)))
        player.paused = False  # quota freed: the pod is created and runs
        await wait_for(lambda: phase_of(cluster) == "Succeeded")
    assert condition(cluster, "Waiting")["status"] == "False"


async def test_a_deadline_that_passed_before_the_pod_started_is_not_the_steps_fault(cluster, state):
    """The pod never scheduled; at the deadline the Job controller deletes it and fails the Job.
    The run's Waiting condition named the step: it never ran, which no retry count or drop
    rule should judge (a per-model step was dropped as if its child had failed)."""
    async with kubelet(cluster, state) as player, operator():
        player.paused = True
        await create_run(cluster, run_body())
        await wait_for(lambda: JOB in job_names(cluster))
        await patch_job(cluster, JOB, {"status": {"startTime": "2026-01-01T00:00:00Z", "active": 1, "ready": 0}},
                        status=True)
        await put_pod(cluster, unscheduled("0/4 nodes are available: 4 Insufficient nvidia.com/gpu."), 0)
        await wait_for(lambda: condition(cluster, "Waiting").get("reason") == "Unschedulable")
        await delete_pod(cluster, f"{JOB}-pending-0")
        await patch_job(cluster, JOB, {"status": {"active": 0, "failed": 1, "conditions": [
            {"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
             "message": "Job was active longer than specified deadline"}]}}, status=True)
        await wait_for(lambda: phase_of(cluster) == "Failed")
    assert "g0000-init failed (NeverStarted)" in condition(cluster, "Failed")["message"]


async def test_a_never_started_job_is_judged_so_whatever_the_number_of_waiting_steps(cluster, state):
    """Six children wait unscheduled; the Waiting condition's message names the first five. The
    sixth's deadline passes and takes its pod: it never started all the same (status.waitingSteps
    keeps every waiting step), so the run fails rather than drop the child as if it had failed."""
    merges = [f"demo-g0000-merge-{index:02d}" for index in range(2, 8)]
    async with kubelet(cluster, state, fake_phase) as player, operator():
        player.held.update(merges)
        await create_run(cluster, run_body(population={"size": 2, "childrenPerGeneration": 1, "initialSize": 8,
                                                       "generations": 1}))
        await wait_for(lambda: set(merges) <= job_names(cluster))
        for name in merges:
            await patch_job(cluster, name, {"status": {"startTime": "2026-01-01T00:00:00Z", "active": 1, "ready": 0}},
                            status=True)
            await put_pod(cluster, unscheduled("0/4 nodes are available: 4 Insufficient nvidia.com/gpu."), 0, name)
        await wait_for(lambda: "and 1 more" in condition(cluster, "Waiting").get("message", ""))
        last = merges[-1]
        assert last.removeprefix("demo-") not in condition(cluster, "Waiting")["message"]
        await delete_pod(cluster, f"{last}-pending-0")
        await patch_job(cluster, last, {"status": {"active": 0, "failed": 1, "conditions": [
            {"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
             "message": "Job was active longer than specified deadline"}]}}, status=True)
        await wait_for(lambda: phase_of(cluster) == "Failed"
                       or "g0000-merge-07" in run_object(cluster)["status"].get("progress", {}))
    assert "g0000-merge-07 failed (NeverStarted)" in condition(cluster, "Failed").get("message", "")


STARTED = [{"name": "phase", "started": True, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]
GONE_ASTRAY = [
    # Stuck terminating: no kubelet confirms the end, and the Job makes no new pod before it ends.
    ("PodTerminating", {"active": 0, "terminating": 1}, {"phase": "Running", "containerStatuses": STARTED},
     {"deletionTimestamp": "2026-01-01T00:10:00Z", "finalizers": ["batch.kubernetes.io/job-tracking"]},
     "has been terminating since"),
    # On a node that stopped reporting: phase Unknown, still active for the Job, which makes no other.
    ("NodeLost", {"active": 1, "ready": 0}, {"phase": "Unknown", "containerStatuses": STARTED}, {},
     "is on a node that stopped reporting"),
]


@pytest.mark.parametrize(("reason", "job_status", "pod_status", "pod_metadata", "words"), GONE_ASTRAY,
                         ids=[case[0] for case in GONE_ASTRAY])
async def test_a_pod_gone_astray_says_so_and_the_deadline_then_fails_the_run(cluster, state, reason, job_status,
                                                                              pod_status, pod_metadata, words):
    """The child's pod ran, then its node was lost: the pod stays Terminating, or (before that) its
    phase is Unknown. Since Kubernetes 1.31 the Job gets only FailureTarget at its deadline (Failed
    waits for the pod). The run said nothing and waited for ever, or at the deadline dropped the
    child as if it had failed; it must say why it waits, then fail on the deadline (resumable)."""
    merge = "demo-g0000-merge-02"
    async with kubelet(cluster, state, fake_phase) as player, operator():
        player.held.add(merge)
        await create_run(cluster, run_body())
        await wait_for(lambda: merge in job_names(cluster))
        await patch_job(cluster, merge, {"status": {"startTime": "2026-01-01T00:00:00Z", **job_status}}, status=True)
        await put_pod(cluster, pod_status, 0, merge, **pod_metadata)
        waiting = await wait_for(lambda: condition(cluster, "Waiting").get("reason") == reason
                                 and condition(cluster, "Waiting"))
        assert f"g0000-merge-02: pod {merge}-pending-0 {words}" in waiting["message"]
        await patch_job(cluster, merge, {"status": {"conditions": [
            {"type": "FailureTarget", "status": "True", "reason": "DeadlineExceeded",
             "message": "Job was active longer than specified deadline"}]}}, status=True)
        await wait_for(lambda: phase_of(cluster) == "Failed")
    assert "g0000-merge-02 failed (NotRunning)" in condition(cluster, "Failed")["message"]
    assert "g0000-merge-02" not in run_object(cluster)["status"].get("progress", {})


async def test_a_job_deleted_mid_step_and_held_by_a_finalizer_says_so_then_runs_again(cluster, state):
    """Someone deletes a child's running Job; a finalizer keeps it (foreground deletion waiting for
    a pod on a lost node, an auditing controller). No Job of that name can be created while it
    is there: the run said "1 step(s) running" and nothing else. It must say why it waits, and
    create the step's Job afresh once the old one is gone."""
    merge = "demo-g0000-merge-02"
    async with kubelet(cluster, state, fake_phase) as player, operator():
        player.held.add(merge)
        await create_run(cluster, run_body())
        await wait_for(lambda: merge in job_names(cluster))
        first = cluster.objects[JOBS, NAMESPACE, merge].raw["metadata"]["uid"]
        await patch_job(cluster, merge, {"metadata": {"finalizers": ["example.com/audit"]}})
        async with cluster.delete(f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{merge}") as response:
            assert response.status < 300, await response.text()
        waiting = await wait_for(lambda: condition(cluster, "Waiting").get("reason") == "JobTerminating"
                                 and condition(cluster, "Waiting"))
        assert f"g0000-merge-02: its Job {merge} has been deleted since" in waiting["message"]
        assert "example.com/audit" in waiting["message"]
        await patch_job(cluster, merge, {"metadata": {"finalizers": []}})  # released: the old Job goes
        await wait_for(lambda: merge in job_names(cluster)
                       and cluster.objects[JOBS, NAMESPACE, merge].raw["metadata"]["uid"] != first)
        player.held.discard(merge)
        await wait_for(lambda: phase_of(cluster) in ("Succeeded", "Failed"))
    assert phase_of(cluster) == "Succeeded", condition(cluster, "Failed")
    assert condition(cluster, "Waiting")["status"] == "False"


async def test_the_resync_runs_while_another_client_keeps_touching_the_run(cluster, state):
    """Only the resync notices a pod that cannot be scheduled (no handler fires on a pod, nor on a
    Job that neither finished nor was suspended). Another client annotates the run more often
    than the resync's idle share of its interval: kopf's idle timer, reset by every change, never
    fired, so the run never said why it waited, nor would it have repaired a lost event."""
    run_url = f"/apis/acdc.dev/v1alpha1/namespaces/{NAMESPACE}/coevolutionruns/demo"

    async def touch() -> None:
        beat = 0
        while True:
            beat += 1
            async with cluster.patch(run_url, json={"metadata": {"annotations": {"example.com/beat": str(beat)}}}) as r:
                assert r.status < 300, await r.text()
            await asyncio.sleep(0.2)

    async with kubelet(cluster, state) as player, operator():
        player.paused = True
        await create_run(cluster, run_body())
        await wait_for(lambda: JOB in job_names(cluster))
        async with in_background(touch()):
            await patch_job(cluster, JOB, {"status": {"startTime": "2026-01-01T00:00:00Z", "active": 1, "ready": 0}},
                            status=True)
            await put_pod(cluster, unscheduled("0/4 nodes are available: 4 Insufficient nvidia.com/gpu."), 0)
            await wait_for(lambda: condition(cluster, "Waiting").get("reason") == "Unschedulable")


async def test_kueue_admission_preemption_and_readmission(cluster, state):
    """Jobs are created suspended with the queue label; a preempted Job waits and is not a failure."""
    admitted: set[str] = set()

    async def kueue(preempt: str, player) -> None:
        """Plays Kueue: admits every queued Job; preempts ``preempt`` once right after admitting it."""
        while True:
            for name in job_names(cluster) - admitted:
                job = cluster.objects[JOBS, NAMESPACE, name].raw
                assert job["spec"]["suspend"] is True and job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpu"
                admitted.add(name)
                if name == preempt:
                    player.paused = True  # admitted and started, then preempted before its pod finished
                    await patch_job(cluster, name, {"spec": {"suspend": False}})
                    await patch_job(cluster, name, {"status": {"startTime": "2026-01-01T00:00:00Z", "active": 1}},
                                    status=True)
                    await patch_job(cluster, name, {"spec": {"suspend": True}})
                    player.paused = False
                    await patch_job(cluster, name, {"status": {"active": 0, "conditions": [
                        {"type": "Suspended", "status": "True", "reason": "JobSuspended"}]}}, status=True)
                    await wait_for(lambda: condition(cluster, "Waiting").get("reason") == "Preempted")
                    assert phase_of(cluster) == "Running" and not condition(cluster, "Failed")
                    status = cluster.objects[JOBS, NAMESPACE, name].raw["status"]
                    await patch_job(cluster, name, {"status": {**status, "conditions": None}}, status=True)
                await patch_job(cluster, name, {"spec": {"suspend": False}})
            await asyncio.sleep(0.05)

    async with kubelet(cluster, state) as player, operator():
        player.paused = True
        await create_run(cluster, run_body(resources={"kueueQueueName": "gpu"}))
        await wait_for(lambda: condition(cluster, "Waiting").get("reason") == "WaitingForAdmission")
        assert "g0000-init" in condition(cluster, "Waiting")["message"] and "gpu" in condition(cluster, "Waiting")["message"]
        player.paused = False
        playing = asyncio.create_task(kueue("demo-g0000-plan", player))
        try:
            await wait_for(lambda: phase_of(cluster) == "Succeeded")
        finally:
            playing.cancel()
    assert all(count == 1 for count in player.attempts.values())  # preemption cost no attempt
    assert run_object(cluster)["status"]["archive"]["size"] >= 1
