"""The real operator process against kmock: a full run, failures, restarts, suspend, delete."""

from __future__ import annotations

import asyncio
import json

import yaml
from kmock._internal.k8s import KubernetesError

from acdc.controller.kube import USER_AGENT
from acdc.engine.state import RunState
from acdc.spec import load_run
from acdc.steps import StepRecord
from tests.controller.cluster import (
    CONFIGMAPS,
    JOBS,
    NAMESPACE,
    PHASE_RUNNER,
    PVCS,
    fake_phase,
    kubelet,
    operator,
    run_body,
    run_object,
    wait_for,
)


def phase_of(cluster, name: str = "demo") -> str | None:
    body = run_object(cluster, name)
    return (body or {}).get("status", {}).get("phase")


async def create_run(cluster, body) -> None:
    async with cluster.post(f"/apis/acdc.dev/v1alpha1/namespaces/{NAMESPACE}/coevolutionruns", json=body) as response:
        assert response.status < 300, await response.text()


def spec_reading(seen: dict[str, int]):
    """The configured phase runner, noting the seed of the spec each step's Job mounts."""
    def phase(state, step, run_yaml):
        seen[step.name] = load_run(run_yaml).spec.seed
        return PHASE_RUNNER(state, step, run_yaml)
    return phase


async def test_full_short_run_creates_every_step_once_and_succeeds(cluster, state):
    seeds: dict[str, int] = {}
    async with kubelet(cluster, state, spec_reading(seeds)) as player, operator():
        await create_run(cluster, run_body())
        await wait_for(lambda: phase_of(cluster) == "Succeeded")
    assert set(seeds.values()) == {run_body()["spec"]["seed"]} and len(seeds) == len(player.attempts)
    executed = (state / "executed.log").read_text().split()
    assert len(executed) == len(set(executed))
    assert "g0000-select" in executed and executed[-1] == "g0001-select"
    assert all(count == 1 for count in player.attempts.values())
    status = run_object(cluster)["status"]
    archive = json.loads((state / "archives" / "0001.json").read_text())["members"]
    assert status["archive"]["bestFitness"] == round(max(m["fitness"] for m in archive), 6)
    assert status["archive"]["size"] == len(archive)
    assert status["generation"] == 1
    assert sorted(status["progress"]) == sorted(name for name in executed if name.startswith("g0001"))


def failing(step_name: str, code: int):
    """The configured phase runner, except that ``step_name`` exits with ``code``."""
    def phase(state, step, run_yaml):
        if step.name == step_name:
            return code, (StepRecord("dropped", {"rejected": "gibberish"}) if code == 3 else None)
        return PHASE_RUNNER(state, step, run_yaml)
    return phase


def condition(cluster, type_: str, name: str = "demo") -> dict:
    conditions = (run_object(cluster, name) or {}).get("status", {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == type_), {})


def job_names(cluster) -> set[str]:
    return {key[2] for key, obj in cluster.objects.items() if key[0] == JOBS and not obj.deleted}


async def test_failed_child_is_retried_then_dropped_and_the_run_goes_on(cluster, state):
    async with kubelet(cluster, state, failing("g0000-merge-02", 1)) as player, operator():
        await create_run(cluster, run_body())
        await wait_for(lambda: phase_of(cluster) == "Succeeded")
    assert player.attempts["demo-g0000-merge-02"] == 3  # backoffLimit 2 -> three attempts
    executed = (state / "executed.log").read_text().split()
    assert "g0000-evaluate-02" not in executed and "g0000-select" in executed


async def test_rejected_child_is_dropped_without_retry(cluster, state):
    async with kubelet(cluster, state, failing("g0001-merge-00", 3)) as player, operator():
        await create_run(cluster, run_body())
        await wait_for(lambda: phase_of(cluster) == "Succeeded")
    assert player.attempts["demo-g0001-merge-00"] == 1
    assert run_object(cluster)["status"]["progress"]["g0001-merge-00"]["result"]["rejected"] == "gibberish"


async def test_infrastructure_fault_of_a_child_fails_the_run_and_drops_nothing(cluster, state):
    """Exit 75 (a full volume): the Job is not retried, the child is not dropped, the run fails."""
    async with kubelet(cluster, state, failing("g0000-merge-02", 75)) as player, operator():
        await create_run(cluster, run_body())
        await wait_for(lambda: phase_of(cluster) == "Failed")
    assert player.attempts["demo-g0000-merge-02"] == 1
    assert "g0000-merge-02" not in run_object(cluster)["status"]["progress"]
    failed = condition(cluster, "Failed")
    assert failed["status"] == "True" and "g0000-merge-02" in failed["message"] and "InfrastructureFault" in failed["message"]


def losing_archive_before(step_name: str, generation: int):
    """The configured phase runner, except that the archive of ``generation`` is gone from the volume
    when ``step_name`` starts: a state file the storage lost."""
    def phase(state, step, run_yaml):
        if step.name == step_name:
            RunState(state).archive_file(generation).unlink()
        return PHASE_RUNNER(state, step, run_yaml)
    return phase


async def test_an_infrastructure_fault_names_its_cause_in_the_runs_condition(cluster, state):
    """plan finds generation 0's archive gone (a StateError, exit 75). The condition said only
    'exit code 75'; the cause was in the pod's log, for someone to find the pod. It now carries the
    cause the phase wrote to its termination log."""
    async with kubelet(cluster, state, losing_archive_before("g0001-plan", 0)), operator():
        await create_run(cluster, run_body())
        await wait_for(lambda: phase_of(cluster) == "Failed")
    message = condition(cluster, "Failed")["message"]
    assert "g0001-plan failed (InfrastructureFault): " in message and "archives/0000.json" in message, message
    assert "g0001-plan" not in run_object(cluster)["status"]["progress"]


def losing_outputs(lost: str):
    """The configured phase runner, except that what ``lost``'s Job wrote on the volume (its scores
    and its step record) is gone once it has reported success: a write the storage lost, a volume
    restored from a backup taken before it."""
    def phase(state, step, run_yaml):
        code, record = PHASE_RUNNER(state, step, run_yaml)
        if step.name == lost:
            volume = RunState(state)
            volume.scores_file(step.generation, record.result["model"]).unlink()
            volume.step_file(step).unlink()
        return code, record
    return phase


async def test_a_scored_child_whose_scores_are_lost_fails_the_run_and_is_never_left_out(cluster, state):
    """The score Job succeeded (its record is in status), then its files left the volume. Select
    read a child without scores or record as one given up, and the run went on without it:
    a fault of the storage silently changed who competed. The run fails instead."""
    async with kubelet(cluster, state, losing_outputs("g0000-score-02")), operator():
        await create_run(cluster, run_body())
        await wait_for(lambda: phase_of(cluster) in ("Failed", "Succeeded"))
    assert phase_of(cluster) == "Failed", run_object(cluster)["status"].get("archive")
    assert "g0000-select failed (InfrastructureFault)" in condition(cluster, "Failed")["message"]
    assert run_object(cluster)["status"]["progress"]["g0000-score-02"]["status"] == "succeeded"


async def test_failed_select_fails_the_run_with_a_condition(cluster, state):
    async with kubelet(cluster, state, failing("g0000-select", 1)), operator():
        await create_run(cluster, run_body())
        await wait_for(lambda: phase_of(cluster) == "Failed")
        await asyncio.sleep(0.3)
    failed = condition(cluster, "Failed")
    assert failed["status"] == "True" and failed["reason"] == "StepFailed" and "g0000-select" in failed["message"]
    assert not any("g0001" in name for name in job_names(cluster))


async def test_operator_restart_mid_generation_resumes_without_duplicates(cluster, state):
    async with kubelet(cluster, state) as player:
        player.paused = True
        async with operator():
            await create_run(cluster, run_body())
            await wait_for(lambda: "demo-g0000-init" in job_names(cluster))
        player.paused = False  # the init Job finishes while no operator is running
        await wait_for(lambda: "demo-g0000-init" in player.finished)
        async with operator():
            await wait_for(lambda: phase_of(cluster) == "Succeeded")
    executed = (state / "executed.log").read_text().split()
    assert len(executed) == len(set(executed)) and executed[-1] == "g0001-select"


async def test_suspend_pauses_after_the_current_phase_and_resume_continues(cluster, state):
    async with kubelet(cluster, state) as player, operator():
        player.paused = True
        await create_run(cluster, run_body(suspend=False))
        await wait_for(lambda: "demo-g0000-init" in job_names(cluster))
        await patch_spec(cluster, {"suspend": True})
        await asyncio.sleep(0.3)
        player.paused = False
        await wait_for(lambda: phase_of(cluster) == "Suspended")
        assert job_names(cluster) == {"demo-g0000-init"}
        await patch_spec(cluster, {"suspend": False})
        await wait_for(lambda: phase_of(cluster) == "Succeeded")


async def patch_spec(cluster, spec: dict) -> None:
    url = f"/apis/acdc.dev/v1alpha1/namespaces/{NAMESPACE}/coevolutionruns/demo"
    async with cluster.patch(url, json={"spec": spec}) as response:
        assert response.status < 300, await response.text()


async def test_invalid_spec_fails_with_field_paths(cluster, state):
    async with operator():
        await create_run(cluster, run_body(population={"size": 1}))
        await wait_for(lambda: phase_of(cluster) == "Failed")
    failed = condition(cluster, "Failed")
    assert failed["reason"] == "InvalidSpec" and "population.size" in failed["message"]
    assert not job_names(cluster)


async def test_immutable_edit_is_refused_and_mutable_edit_accepted(cluster, state):
    async with kubelet(cluster, state) as player, operator():
        player.paused = True
        await create_run(cluster, run_body())
        await wait_for(lambda: "demo-g0000-init" in job_names(cluster))
        await patch_spec(cluster, {"seed": 8})
        await wait_for(lambda: condition(cluster, "Degraded").get("reason") == "SpecChangeRefused")
        assert "seed" in condition(cluster, "Degraded")["message"]
        player.paused = False
        await asyncio.sleep(0.5)
        assert "demo-g0000-plan" not in job_names(cluster)  # no progress while the edit stands
        population = {"size": 2, "childrenPerGeneration": 1, "initialSize": 3, "generations": 2}
        await patch_spec(cluster, {"seed": 7, "population": population})
        await wait_for(lambda: phase_of(cluster) == "Succeeded")
    assert run_object(cluster)["status"]["generation"] == 2
    # The phases read the edit from the spec ConfigMap: re-rendered, not the first spec's memo.
    (configmap,) = [obj.raw for key, obj in cluster.objects.items() if key[0] == CONFIGMAPS and not obj.deleted]
    assert yaml.safe_load(configmap["data"]["run.yaml"])["spec"]["population"]["generations"] == 2


async def delete_run(cluster) -> None:
    async with cluster.delete(f"/apis/acdc.dev/v1alpha1/namespaces/{NAMESPACE}/coevolutionruns/demo") as response:
        assert response.status < 300, await response.text()


async def test_delete_with_retain_keeps_the_volume_and_removes_jobs(cluster, state):
    await _delete_with(cluster, state, "Retain")
    assert any(key[0] == PVCS and not obj.deleted for key, obj in cluster.objects.items())


async def test_delete_with_delete_policy_removes_the_volume(cluster, state):
    await _delete_with(cluster, state, "Delete")
    assert not any(key[0] == PVCS and not obj.deleted for key, obj in cluster.objects.items())


async def _delete_with(cluster, state, policy: str) -> None:
    async with kubelet(cluster, state), operator():
        await create_run(cluster, run_body(retention={"volumeOnDelete": policy}))
        await wait_for(lambda: len(job_names(cluster)) >= 3)
        assert any(key[0] == PVCS for key in cluster.objects)
        await delete_run(cluster)
        await wait_for(lambda: run_object(cluster) is None)
        await wait_for(lambda: not job_names(cluster))


async def test_a_cleanup_the_api_server_refuses_does_not_hold_the_run_in_deletion(cluster, state):
    """The API server refuses the deleted run's cleanup for good (403: a role without
    deletecollection on Jobs). The finalizer was retried every few seconds for ever and the run
    never went; a refusal no retry can change releases it (the garbage collector removes the
    run's Jobs by their owner references) with a Warning that says what was left."""
    async def refuse_job_deletes(request):
        if request.resource == JOBS and request.method.value.upper() == "DELETE":
            return KubernetesError(status=403, reason="Forbidden", message="jobs.batch is forbidden: deletecollection")
        return None

    async with kubelet(cluster, state, fake_phase) as player, operator():
        player.paused = True
        await create_run(cluster, run_body())
        await wait_for(lambda: job_names(cluster))
        cluster.interpose = refuse_job_deletes
        await delete_run(cluster)
        await wait_for(lambda: run_object(cluster) is None)
    posted = [request.data for request in cluster.log if request.method.value.upper() == "POST"
              and str(request.url.path).endswith("/events") and isinstance(request.data, dict)]
    assert any(event.get("reason") == "CleanupAbandoned" and "403" in event.get("message", "") for event in posted)


async def test_a_run_recreated_with_another_spec_never_computes_over_its_namesakes_volume(cluster, state):
    """The run is deleted, its volume retained, and a run of the same name but another seed is
    created: it adopts the volume, as Retain intends, and its generations were computed over the
    first run's tasks, archives and records, its report reading the first run's run.yaml. Its init
    refuses instead (exit 75: the run fails, resumable once it has a volume of its own)."""
    async with kubelet(cluster, state), operator():
        await create_run(cluster, run_body())
        await wait_for(lambda: phase_of(cluster) == "Succeeded")
        await delete_run(cluster)
        await wait_for(lambda: run_object(cluster) is None)
        for obj in cluster.objects.values():  # the garbage collector's work: what the deleted run owned goes
            if not obj.deleted and any(ref.get("uid") == "uid-demo" for ref in obj.raw["metadata"].get("ownerReferences", [])):
                obj.delete()
        executed = (state / "executed.log").read_text().split()
        again = run_body(seed=8)
        again["metadata"]["uid"] = "uid-demo-again"  # a new object, as the API server would make it
        await create_run(cluster, again)
        await wait_for(lambda: phase_of(cluster) == "Failed")
    assert "g0000-init failed (InfrastructureFault)" in condition(cluster, "Failed")["message"]
    assert (state / "executed.log").read_text().split() == executed  # nothing of the second run committed
    assert load_run(state / "run.yaml").spec.seed == 7


async def test_a_run_changed_while_its_deletion_is_handled_is_still_deleted(cluster, state):
    """The CI flake, made certain: the run changes (here another client annotates it; in CI a
    reconcile's status patch) after kopf read it and before kopf removes its finalizer. kopf's
    JSON patch then tests a stale resourceVersion; a real API server answers 422, and kopf retries
    at once from the fresh object, calling the delete handler again, which finds its Jobs and
    volume gone (404s). Every request must get a real server's answer: no 500 from the emulator."""
    changed = []

    async def annotate_when_cleanup_starts(request) -> None:
        deleting = (run_object(cluster) or {}).get("metadata", {}).get("deletionTimestamp")
        if deleting and not changed and request.resource == JOBS and request.method.value.upper() == "DELETE":
            url = f"/apis/acdc.dev/v1alpha1/namespaces/{NAMESPACE}/coevolutionruns/demo"
            async with cluster.patch(url, json={"metadata": {"annotations": {"example.com/touched": "yes"}}}) as response:
                assert response.status < 300, await response.text()
            changed.append(request)

    cluster.interpose = annotate_when_cleanup_starts
    await _delete_with(cluster, state, "Delete")
    assert changed and not any(key[0] == PVCS and not obj.deleted for key, obj in cluster.objects.items())


async def test_a_failed_cleanup_is_retried_as_soon_as_a_failed_reconcile(cluster, state, monkeypatch, caplog):
    """An API blip during cleanup is a TemporaryError retried after RETRY_SECONDS, not an error
    kopf retries after its default minute: the run is gone, and kopf says it will retry soon."""
    from acdc.controller import handlers

    failures = []

    def blip_once(kube, body):
        if not failures:
            failures.append(body["metadata"]["name"])
            raise ConnectionResetError("connection reset by peer")
        return cleanup(kube, body)

    cleanup = handlers.cleanup
    monkeypatch.setattr(handlers, "cleanup", blip_once)
    async with kubelet(cluster, state), operator():
        await create_run(cluster, run_body(retention={"volumeOnDelete": "Delete"}))
        await wait_for(lambda: len(job_names(cluster)) >= 3)
        await delete_run(cluster)
        await wait_for(lambda: run_object(cluster) is None)
    assert failures == ["demo"]
    assert "'run_deleted' failed temporarily: cleanup failed: connection reset by peer" in caplog.text
    assert not any(key[0] == PVCS and not obj.deleted for key, obj in cluster.objects.items())


def operator_lists(cluster, plural: str) -> list[str]:
    """The label selectors of the operator's own list requests (kopf's watches excluded)."""
    return [request.params.get("labelSelector", "") for request in cluster.log
            if request.method.value.upper() == "GET" and str(request.url.path).endswith(f"/{plural}")
            and "watch" not in request.params and (request.headers.get("User-Agent") or "") == USER_AGENT]


async def test_reconcile_reads_one_generation_and_deletes_closed_generations_jobs(cluster, state):
    """Four generations: every list names one generation, and only the failed step's Job survives."""
    population = {"size": 2, "childrenPerGeneration": 1, "initialSize": 3, "generations": 3}
    async with kubelet(cluster, state, failing_fake("g0002-merge-00")), operator():
        await create_run(cluster, run_body(population=population))
        await wait_for(lambda: phase_of(cluster) == "Succeeded")
        await wait_for(lambda: run_object(cluster)["status"].get("jobsDeletedThrough") == 3)
    assert job_names(cluster) == {"demo-g0002-merge-00"}  # kept for debugging (spec.jobHistory.keepFailed)
    for plural in ("jobs", "pods"):
        selectors = operator_lists(cluster, plural)
        assert selectors and all("acdc.dev/generation=" in selector for selector in selectors), selectors
    job = cluster.objects[JOBS, NAMESPACE, "demo-g0002-merge-00"].raw
    assert job["spec"]["ttlSecondsAfterFinished"] == 7 * 24 * 3600


def failing_fake(step_name: str, code: int = 1):
    """The fake phase (the operator alone), except that ``step_name`` exits ``code`` every attempt,
    without a result."""
    def phase(state, step, run_yaml):
        return (code, None) if step.name == step_name else fake_phase(state, step, run_yaml)
    return phase


async def test_an_infrastructure_fault_whose_pod_is_gone_fails_the_run(cluster, state):
    """select exits 75 and its pod is gone before the operator reads it (a node scaled away): the
    exit code in the Job's PodFailurePolicy condition says infrastructure. Taken for a rejection,
    the select was recorded dropped and the run sat Running with nothing left to start."""
    async with kubelet(cluster, state, failing_fake("g0000-select", 75)) as player, operator():
        player.pods_lost.add("demo-g0000-select")
        await create_run(cluster, run_body())
        await wait_for(lambda: phase_of(cluster) == "Failed")
    failed = condition(cluster, "Failed")
    assert "g0000-select" in failed["message"] and "InfrastructureFault" in failed["message"]
    assert "g0000-select" not in run_object(cluster)["status"]["progress"]


async def test_a_completed_step_without_a_readable_result_fails_the_run_unrecorded(cluster, state):
    """select completes and leaves no termination message: recorded as a success with an empty
    result, it closed the generation with no summary (coverage counted stale, archive unknown)."""
    async with kubelet(cluster, state, failing_fake("g0000-select", 0)), operator():
        await create_run(cluster, run_body())
        await wait_for(lambda: phase_of(cluster) in ("Failed", "Succeeded"))
    failed = condition(cluster, "Failed")
    assert phase_of(cluster) == "Failed" and "g0000-select failed (ResultUnreadable)" in failed["message"]
    assert run_object(cluster)["status"]["generation"] == 0
    assert "g0000-select" not in run_object(cluster)["status"]["progress"]


async def test_coverage_budget_ends_the_run_succeeded_with_the_reason(cluster, state):
    """The fake phases report the same coverage every generation: one stale generation stops it."""
    population = {"size": 2, "childrenPerGeneration": 1, "initialSize": 3, "generations": 5}
    async with kubelet(cluster, state, fake_phase), operator():
        await create_run(cluster, run_body(population=population, budget={"stopWhenCoverageStaleFor": 1}))
        await wait_for(lambda: phase_of(cluster) == "Succeeded")
    progressing = condition(cluster, "Progressing")
    assert progressing["reason"] == "CoverageStalled" and "after generation 1" in progressing["message"]
    assert run_object(cluster)["status"]["generation"] == 1
