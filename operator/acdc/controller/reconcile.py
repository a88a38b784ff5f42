"""Level-triggered reconciliation of one CoevolutionRun.

Each call reads the run, its Jobs and (when a Job just finished) their pods, works out
from the generation DAG what is done and what may start, creates the missing Jobs and
writes the difference into status. No state is kept in memory between calls (only what
is derived from a spec, memoised by the spec's text), so it is safe to call from any event
(run created, spec edited, Job finished, operator restart) and any number of times: Job
names are deterministic and a second create is a 409.
"""

from __future__ import annotations

import copy
import datetime
import functools
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from acdc import metrics
from acdc.controller import job_outcome, names, tenancy
from acdc.controller.budget import job_gpu_hours
from acdc.controller.evaluation_stage import advance_evaluation, evaluation_pending, evaluation_resumable, resume_evaluation
from acdc.controller.job_manifest import build_job
from acdc.controller.job_outcome import is_finished, outcome, pods_of
from acdc.controller.kube import CLAIMS, JOBS, PODS, RUNS, ApiError, Kube
from acdc.controller.ownership import NotOwned, live_and_controlled_by
from acdc.controller.run_ref import RunRef
from acdc.controller.sandbox_policy import build_sandbox_policy
from acdc.controller.server_manifests import build_deployment, build_server_policy, build_service, deployed_endpoints
from acdc.controller.spec_guard import changed_fields, digests
from acdc.controller.status_patch import merge_diff, now, set_condition
from acdc.controller.volume_manifests import build_claim, build_spec_configmap, claim_name
from acdc.controller.waiting import (
    Waiting,
    admission_wait_since,
    creation_waiting,
    job_terminating,
    job_waiting,
    needs_pods,
    pod_waiting,
    pods_refused,
    suspended,
)
from acdc.phases.budget import exhausted, parse_time, track_coverage
from acdc.phases.dag import DagShape
from acdc.phases.dag_actions import SKIPPED, NextActions, next_actions
from acdc.spec import CoevolutionRunSpec, SpecInvalid, parse_run
from acdc.spec.run import BudgetSpec
from acdc.steps import Phase, Step, StepRecord

log = logging.getLogger(__name__)

Emit = Callable[[str, str, str], None]
"""emit(type, reason, message): post a Kubernetes Event on the run (Normal or Warning)."""

TERMINAL = ("Succeeded", "Failed")
INFRA_REFRESH_S = 600
"""Re-apply a run's infrastructure this often even when its spec did not change: a spec
ConfigMap, server or policy deleted by hand would otherwise leave every later pod waiting
on it until its deadline."""

SUMMARY_KEYS = {"archive": "size", "bestFitness": "bestFitness", "meanFitness": "meanFitness", "coverage": "coverage"}


@dataclass
class Outcome:
    """What one reconcile did, for the caller's logs and the tests."""

    created: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)
    status_patch: dict[str, Any] = field(default_factory=dict)


def parse_spec(body: dict[str, Any]) -> CoevolutionRunSpec:
    """Validate the spec alone: status and metadata carry kopf's and the server's own fields."""
    meta = body.get("metadata") or {}
    document = {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"),
                "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace")}, "spec": body.get("spec")}
    return parse_run(document, f"{meta.get('namespace')}/{meta.get('name')}").spec


@dataclass(frozen=True)
class DerivedSpec:
    """What a reconcile derives from the run's spec alone: the same for every reconcile until
    the spec changes. Rendering the infrastructure (the ConfigMap's run.yaml is a YAML dump
    of the whole spec) to compare its digest was 40% of the operator's CPU with 100 runs."""

    spec: CoevolutionRunSpec
    infra: tuple[dict[str, Any], ...]
    infra_digest: str
    immutable_digests: dict[str, str]


def derive(ref: RunRef, body: dict[str, Any]) -> DerivedSpec:
    """``body``'s spec validated and rendered, memoised by its canonical JSON (SpecInvalid is raised afresh)."""
    return _derive(ref, body.get("apiVersion"), body.get("kind"), json.dumps(body.get("spec"), sort_keys=True))


@functools.lru_cache(maxsize=256)
def _derive(ref: RunRef, api_version: str | None, kind: str | None, spec_json: str) -> DerivedSpec:
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": ref.name, "namespace": ref.namespace},
            "spec": json.loads(spec_json)}
    spec = parse_spec(body)
    manifests = infra_manifests(ref, spec)
    return DerivedSpec(spec, tuple(manifests), _digest(manifests), digests(spec))


def infra_manifests(ref: RunRef, spec: CoevolutionRunSpec) -> list[dict[str, Any]]:
    """Everything a run needs besides its Jobs: volume, spec ConfigMap, servers, sandbox policy."""
    out = [build_spec_configmap(ref, spec), build_sandbox_policy(ref, spec)]
    if not spec.storage.existing_claim:
        out.insert(0, build_claim(ref, spec))
    servers = deployed_endpoints(spec)
    for role, endpoint in servers.items():
        out += [build_deployment(ref, spec, role, endpoint), build_service(ref, role)]
    if servers:
        out.append(build_server_policy(ref))
    return out


def _digest(manifests: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(manifests, sort_keys=True).encode()).hexdigest()[:16]


def reconcile(kube: Kube, body: dict[str, Any], emit: Emit) -> Outcome:
    ref = RunRef.from_body(body)
    old = copy.deepcopy(body.get("status") or {})
    old.pop("kopf", None)
    status = copy.deepcopy(old)
    result = Outcome()
    try:
        derived = derive(ref, body)
    except SpecInvalid as exc:
        _refuse_invalid_spec(status, "; ".join(exc.problems), emit)
        return _finish(kube, ref, old, status, result)
    if _condition(status, "Degraded").get("reason") == "InvalidSpec":
        status["conditions"] = set_condition(status["conditions"], "Degraded", "False", "SpecValid", "")
    spec = derived.spec
    _delete_closed_jobs(kube, ref, spec, status)  # from what the server holds: outcomes already saved

    def save() -> None:
        nonlocal old
        _finish(kube, ref, old, status, result)
        old = copy.deepcopy(status)

    _resume_if_asked(kube, ref, spec, body, status, emit, save)
    if status.get("phase") in TERMINAL and _failed_reason(status) != "InvalidSpec":
        if evaluation_pending(spec, status):  # the separate stage after the final generation
            advance_evaluation(kube, ref, spec, status, emit, result.created)
        return _finish(kube, ref, old, status, result)
    if _failed_reason(status) == "InvalidSpec":
        status["conditions"] = set_condition(status.get("conditions", []), "Failed", "False", "SpecValid", "")
        status.pop("lastError", None)
    status.setdefault("generation", 0)
    if not status.get("startTime"):
        status.update(phase="Pending", startTime=now())
    if not status.get("immutableDigests"):
        status["immutableDigests"] = dict(derived.immutable_digests)
    refused = changed_fields(status["immutableDigests"], derived.immutable_digests)
    behind = spec.population.generations is not None and spec.population.generations < status["generation"]
    if refused or behind:
        message = (f"spec fields cannot change mid-run: {', '.join(refused)}; revert them to continue" if refused else
                   f"population.generations cannot drop below {status['generation']}, the generation in progress")
        status["conditions"] = set_condition(status.get("conditions", []), "Degraded", "True", "SpecChangeRefused", message)
        if "SpecChangeRefused" not in json.dumps(old.get("conditions", [])) or _degraded(old) != "True":
            emit("Warning", "SpecChangeRefused", message)
        return _finish(kube, ref, old, status, result)
    if _degraded(status) == "True":
        status["conditions"] = set_condition(status["conditions"], "Degraded", "False", "SpecAccepted", "")
    barred = tenancy.refusals(kube, ref, spec)
    if not barred:
        try:
            if _ensure_infra(kube, ref, derived, status):
                save()  # at once: a crash need not redo it all
            _advance(kube, ref, spec, status, emit, result)
        except NotOwned as exc:
            barred = [tenancy.Refusal(exc.reason, str(exc))]
        except VolumeLost as exc:
            _fail(status, emit, "VolumeLost", str(exc))
    tenancy.record(status, old, emit, barred)
    _finish(kube, ref, old, status, result)
    saved = copy.deepcopy(status)
    if not barred and _delete_closed_jobs(kube, ref, spec, status):  # the patch above saved the closed generations
        _finish(kube, ref, saved, status, result)
    return result


def closed_through(status: dict[str, Any]) -> int:
    """The last generation whose outcomes are all in status (and on the volume)."""
    generation = int(status.get("generation") or 0)
    return generation if status.get("phase") == "Succeeded" else generation - 1


SUCCEEDED_JOBS = {"status.successful": "1"}
"""The Job field selector for a Job whose one pod succeeded (the API server's name for
``status.succeeded``): what a closed generation deletes when failed Jobs are kept."""


def _delete_closed_jobs(kube: Kube, ref: RunRef, spec: CoevolutionRunSpec, status: dict[str, Any]) -> bool:
    """Delete the Jobs (and, by propagation, pods) of closed generations, except failed ones
    when ``spec.jobHistory.keepFailed``: they stay for debugging until the run is deleted or
    their ttlSecondsAfterFinished ends. A failed run keeps everything. ``status`` must be
    what the server holds, so no outcome is deleted before it is saved."""
    deleted = int(status.get("jobsDeletedThrough", -1))
    target = closed_through(status)
    if status.get("phase") == "Failed" or target <= deleted:
        return False
    succeeded = SUCCEEDED_JOBS if spec.job_history.keep_failed else None  # a finished Job without a success failed
    for generation in range(deleted + 1, target + 1):
        kube.delete_collection(JOBS, ref.namespace, names.generation_labels(ref.name, generation), succeeded)
    status["jobsDeletedThrough"] = target
    return True


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    conditions: list[dict[str, Any]] = status.get("conditions", [])
    return next((condition for condition in conditions if condition.get("type") == type_), {})


def _failed_reason(status: dict[str, Any]) -> str | None:
    failed = _condition(status, "Failed")
    reason: str | None = failed.get("reason") if failed.get("status") == "True" else None
    return reason


def _degraded(status: dict[str, Any]) -> str | None:
    degraded: str | None = _condition(status, "Degraded").get("status")
    return degraded


def _fail(status: dict[str, Any], emit: Emit, reason: str, message: str, step: str | None = None) -> None:
    """The run stops, resumable (``_resume_if_asked``) once the cause is fixed."""
    status.update(phase="Failed", lastError=message, completionTime=now(), step=step)
    status["conditions"] = set_condition(status.get("conditions", []), "Failed", "True", reason, message)
    status["conditions"] = set_condition(status["conditions"], "Progressing", "False", reason, message)
    emit("Warning", reason, message[:1000])


def _refuse_invalid_spec(status: dict[str, Any], message: str, emit: Emit) -> None:
    """A run that has not finished fails until its spec is fixed; a finished one keeps its
    outcome (a typo must not turn Succeeded into Failed, nor its fix close a generation
    again) and only says Degraded."""
    finished = status.get("phase") in TERMINAL and _failed_reason(status) != "InvalidSpec"
    kind = "Degraded" if finished else "Failed"
    before = _condition(status, kind)
    if not finished:
        status.update(phase="Failed", lastError=message)
    status["conditions"] = set_condition(status.get("conditions", []), kind, "True", "InvalidSpec", message)
    if (before.get("status"), before.get("reason"), before.get("message")) != ("True", "InvalidSpec", message):
        emit("Warning", "InvalidSpec", message[:1000])


def _resume_if_asked(kube: Kube, ref: RunRef, spec: CoevolutionRunSpec, body: dict[str, Any],
                     status: dict[str, Any], emit: Emit, save: Callable[[], None]) -> None:
    """A new value of the resume annotation takes a failed run back to Running: the Jobs of
    its unrecorded failed steps, of those still waiting for Kueue and of those past a deadline
    nothing enforced, are deleted, so the next pass creates them afresh (phases are
    idempotent), as ``acdc run`` again resumes a local run. The failed ones' GPU-hours are
    counted and saved first (``save``), so a crash before the deletes neither loses nor
    repeats them.
    A Succeeded run whose evaluation stage failed resumes that stage (``resume_evaluation``).
    Every value is acted on once (``status.resumed``), so one set while the run was running
    does not resume a later failure by itself."""
    asked = ((body.get("metadata") or {}).get("annotations") or {}).get(names.RESUME_ANNOTATION)
    if not asked or asked == status.get("resumed"):
        return
    if evaluation_resumable(spec, status):
        status["resumed"] = asked
        again = resume_evaluation(kube, ref, status)
        emit("Normal", "Resumed", "evaluation resumed" + (f"; running again: {', '.join(again)}" if again else ""))
        return
    if status.get("phase") != "Failed" or _failed_reason(status) in (None, "InvalidSpec"):
        status["resumed"] = asked
        emit("Normal", "ResumeIgnored", f"nothing to resume: the run is {status.get('phase') or 'Pending'}")
        return
    generation = int(status.get("generation") or 0)
    selector = names.generation_labels(ref.name, generation)
    jobs = _own_jobs(kube, ref, selector)
    found_all = _finished_outcomes(kube, ref, selector, jobs, status)[0]
    # What finished well since the failure is recorded by the next pass; what failed runs again.
    doomed = [(step, job) for step, job, found in found_all if found.record is None]
    if _count_failed_jobs(status, [job for _, job in doomed]):
        save()
    # A Job still waiting for Kueue is queued afresh: its admission wait (AdmissionTimeout) starts again;
    # so is one past a deadline nothing enforced (DeadlineNotEnforced).
    doomed += [(Step.parse(name), job) for name, job in jobs.items()
               if name and ((suspended(job) and not is_finished(job)) or _overdue_since(job) is not None)]
    for _, job in doomed:
        kube.delete(JOBS, ref.namespace, job["metadata"]["name"], uid=job["metadata"].get("uid"))
    status.pop(FAILED_COUNTED, None)  # every Job it named is deleted: none can be counted again
    status["resumed"] = asked
    for key in ("lastError", "completionTime"):
        status.pop(key, None)
    status["phase"] = "Running"
    again = sorted(step.name for step, _ in doomed)
    message = f"resumed at generation {generation}" + (f"; running again: {', '.join(again)}" if again else "")
    status["conditions"] = set_condition(status["conditions"], "Failed", "False", "Resumed", message)
    emit("Normal", "Resumed", message)


FAILED_COUNTED = "failedJobsCounted"
"""Status key: the uids of the failed (never recorded) Jobs whose GPU-hours ``status.gpuHours``
holds, kept until a resume deletes them."""


def _add_gpu_hours(status: dict[str, Any], job: dict[str, Any]) -> bool:
    """Add ``job``'s GPU-hours to ``status.gpuHours``, unless they are in already (a failed Job's,
    ``FAILED_COUNTED``). Whether they were added."""
    if job["metadata"].get("uid") in (status.get(FAILED_COUNTED) or []):
        return False
    status["gpuHours"] = round(float(status.get("gpuHours") or 0.0) + job_gpu_hours(job), 6)
    return True


def _count_failed_jobs(status: dict[str, Any], jobs: list[dict[str, Any]]) -> bool:
    """Count the GPU-hours of failed Jobs, which are never recorded, once each: as the run fails
    on them, or, for one that failed after, as a resume deletes it. Whether any was new."""
    new = [job["metadata"].get("uid") for job in jobs if _add_gpu_hours(status, job)]
    if new:
        status[FAILED_COUNTED] = [*(status.get(FAILED_COUNTED) or []), *new]
    return bool(new)


def _own_jobs(kube: Kube, ref: RunRef, selector: dict[str, str]) -> dict[str | None, dict[str, Any]]:
    """The run's Jobs carrying ``selector`` by step name, without those being deleted and those
    of an earlier run of the same name (its garbage not collected yet: never this run's outcome)."""
    return {job["metadata"]["labels"].get(names.LABEL_STEP): job
            for job in live_and_controlled_by(kube.list(JOBS, ref.namespace, selector), ref.uid)}


def _ensure_infra(kube: Kube, ref: RunRef, derived: DerivedSpec, status: dict[str, Any]) -> bool:
    """Apply the run's infrastructure when it changed since last applied (mutable fields do),
    and every INFRA_REFRESH_S anyway, so an object deleted by hand comes back. A claim is
    only ever created before the run starts: a volume gone mid-run took the run's state
    with it, and an empty new one would quietly start the science over (VolumeLost)."""
    checked = status.get("infraCheckedAt")
    stale = not checked or _age_s(checked) >= INFRA_REFRESH_S
    if status.get("infraDigest") == derived.infra_digest and not stale:
        return False
    started = bool(status.get("infraDigest"))
    for manifest in derived.infra:
        if manifest["kind"] != "PersistentVolumeClaim":
            kube.apply(copy.deepcopy(manifest))  # a copy: the memo's stays as built
        elif not started:
            kube.apply(copy.deepcopy(manifest), update=False)  # a bound claim's spec is immutable
        else:
            _check_volume(kube, ref.namespace, manifest["metadata"]["name"])
    status["infraDigest"] = derived.infra_digest
    status["infraCheckedAt"] = now()
    return True


class VolumeLost(Exception):
    """The run's state volume was deleted after the run started."""

    def __init__(self, claim: str, going: bool = False) -> None:
        fate = "is being deleted" if going else "is gone"
        super().__init__(f"the run's volume (PersistentVolumeClaim {claim}) {fate} and its state with it: "
                         "restore it from a backup and resume the run, or start a new run")


def _check_volume(kube: Kube, namespace: str, claim: str) -> None:
    """VolumeLost unless the run's claim is there and not being deleted. A deleted claim that a
    running pod still mounts stays Terminating until the pod ends (the pvc-protection
    finalizer) and is then gone: no later step may start on it, nor on an empty namesake."""
    found = kube.get(CLAIMS, namespace, claim)
    if found is None or (found.get("metadata") or {}).get("deletionTimestamp"):
        raise VolumeLost(claim, going=found is not None)


def _age_s(timestamp: str) -> float:
    return (datetime.datetime.now(tz=datetime.UTC) - parse_time(timestamp)).total_seconds()


def _advance(kube: Kube, ref: RunRef, spec: CoevolutionRunSpec, status: dict[str, Any], emit: Emit, result: Outcome) -> None:
    shape = DagShape.from_spec(spec)
    while True:
        generation = int(status["generation"])
        selector = names.generation_labels(ref.name, generation)
        jobs = _own_jobs(kube, ref, selector)
        progress: dict[str, Any] = status.setdefault("progress", {})
        done = {name: StepRecord.from_dict(rec) for name, rec in progress.items()}
        found_all, pods = _finished_outcomes(kube, ref, selector, jobs, status)
        failed = [(step, job, found) for step, job, found in found_all if found.record is None]
        for step, job, found in found_all:
            if found.record is None:
                continue
            name = step.name
            done[name] = found.record
            progress[name] = found.record.to_dict()
            _add_gpu_hours(status, job)
            result.recorded.append(name)
            metrics.record_step(ref.namespace, ref.name, step, found.record)
            if found.record.status == "dropped":
                emit("Warning", "StepDropped", f"{name} dropped: {json.dumps(found.record.result)[:300]}")
        if failed:  # after recording the rest: a resume reruns only what failed
            _count_failed_jobs(status, [job for _, job, _ in failed])  # saved with the failure
            step, _, found = failed[0]
            message = f"{step.name} failed ({found.reason}): {found.message}".strip()
            _fail(status, emit, "StepFailed", f"{message}; {_resume_hint(ref)}", step=step.name)
            for step, _, _ in failed:
                metrics.observe_step_failure(ref.namespace, ref.name, step.phase, retried=False)
            return
        running = {name for name, job in jobs.items() if name and not is_finished(job)}
        actions = next_actions(shape, generation, done, running)
        for step in actions.skip:
            done[step.name] = SKIPPED
            progress[step.name] = SKIPPED.to_dict()
        if actions.stalled:
            lost = sorted(name for name, record in done.items() if record.status == "dropped")
            _fail(status, emit, "Stalled", f"generation {generation} cannot go on: no step is left to run "
                  f"and it did not close (dropped: {', '.join(lost) or 'none'})")
            return
        if not actions.close:
            overdue = _admission_overdue(spec, jobs) or _deadline_not_enforced(jobs)
            if overdue is not None:
                _fail(status, emit, overdue[1], f"{overdue[2]}; {_resume_hint(ref)}", step=overdue[0])
                return
            refused = _launch(kube, ref, spec, status, actions, jobs, result)
            waits = _waiting(jobs, pods if pods is not None else functools.partial(kube.list, PODS, ref.namespace, selector),
                             functools.partial(kube.events_about, ref.namespace))
            _say_why_waiting(status, refused + waits, emit)
            return
        if _close_generation(shape, spec.budget, generation, done, status, emit, actions.finish):
            return


def _resume_hint(ref: RunRef) -> str:
    return (f"fix the cause, then resume: kubectl annotate coevolutionrun {ref.name} "
            f"{names.RESUME_ANNOTATION}=$(date +%s) --overwrite")


def _admission_overdue(spec: CoevolutionRunSpec, jobs: dict[str | None, dict[str, Any]]) -> tuple[str, str, str] | None:
    """(step, reason, message) for the first Job that has waited for Kueue longer than
    spec.resources.kueueAdmissionTimeoutSeconds allows (0: no limit). A suspended Job has no
    deadline running (activeDeadlineSeconds counts from admission), so without this bound a
    queue that never admits it held the run Running for ever."""
    limit = spec.resources.kueue_admission_timeout_seconds
    for name, job in sorted((name, job) for name, job in jobs.items() if name):
        since = admission_wait_since(job) if limit and not is_finished(job) else None
        if since is not None and _age_s(since) > limit:
            queue = ((job.get("metadata") or {}).get("labels") or {}).get(names.LABEL_KUEUE_QUEUE, "")
            return name, "AdmissionTimeout", (f"{name} has waited for Kueue admission in queue {queue} since {since}, "
                                              f"longer than spec.resources.kueueAdmissionTimeoutSeconds ({limit} s); "
                                              "its Job is created afresh on resume")
    return None


DEADLINE_GRACE_ENV = "ACDC_DEADLINE_GRACE_SECONDS"
DEADLINE_GRACE_S = 300.0
"""How long past a Job's deadline the operator waits for the Job controller to end it."""


def _overdue_since(job: dict[str, Any]) -> datetime.datetime | None:
    """The deadline of a running (not suspended, not finished) Job that the Job controller has not
    enforced for ``ACDC_DEADLINE_GRACE_SECONDS`` (default DEADLINE_GRACE_S); None otherwise. The
    deadline counts from the Job's start (reset by Kueue's admission), never from before its
    creation."""
    deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
    starts = [parse_time(str(t)) for t in ((job.get("status") or {}).get("startTime"),
                                           (job.get("metadata") or {}).get("creationTimestamp")) if t]
    if not deadline or not starts or suspended(job) or is_finished(job):
        return None
    due = max(starts) + datetime.timedelta(seconds=int(deadline))
    grace = float(os.environ.get(DEADLINE_GRACE_ENV, DEADLINE_GRACE_S))
    return due if (datetime.datetime.now(tz=datetime.UTC) - due).total_seconds() > grace else None


def _deadline_not_enforced(jobs: dict[str | None, dict[str, Any]]) -> tuple[str, str, str] | None:
    """(step, reason, message) for the first Job ``_overdue_since`` finds: the Job controller
    ends a Job at its deadline (FailureTarget), and the run's bound on every step rests on it;
    if it does not (not running, or the Job handed to another controller), the run would wait
    for ever on a step that has no deadline left."""
    for name, job in sorted((name, job) for name, job in jobs.items() if name):
        due = _overdue_since(job)
        if due is not None:
            return name, "DeadlineNotEnforced", (f"{name}'s Job passed its deadline at {due.isoformat()} and Kubernetes "
                                                 "has not ended it (is the Job controller running?); its Job is created "
                                                 "afresh on resume")
    return None


def _finished_outcomes(kube: Kube, ref: RunRef, selector: dict[str, str], jobs: dict[str | None, dict[str, Any]],
                       status: dict[str, Any],
                       ) -> tuple[list[tuple[Step, dict[str, Any], job_outcome.Outcome]], list[dict[str, Any]] | None]:
    """The outcome of every finished Job whose step ``status.progress`` does not record yet, and
    the pods read for them (None when no Job needed them: pods are listed only then).
    ``status.waitingSteps`` says which steps the last pass found waiting (a deadline that
    passed before a pod ever started)."""
    recorded = status.get("progress") or {}
    finished = [(Step.parse(name), job) for name, job in jobs.items() if name and name not in recorded and is_finished(job)]
    if not finished:
        return [], None
    pods = kube.list(PODS, ref.namespace, selector)
    waited = set(status.get("waitingSteps") or [])
    return [(step, job, outcome(step, job, pods_of(job, pods), step.name in waited)) for step, job in finished], pods


def _waiting(jobs: dict[str | None, dict[str, Any]],
             pods: list[dict[str, Any]] | Callable[[], list[dict[str, Any]]],
             events: Callable[[str, str], list[dict[str, Any]]]) -> list[Waiting]:
    """Why the in-flight steps wait; pods are read only when a Job has a pod not yet ready, a
    Job's Events only when it has started without any pod (``pods_refused``), a pod's only
    while it mounts its volumes (``waiting.mounting``). ``events(kind, name)``."""
    out: list[Waiting] = []
    for name, job in sorted(jobs.items(), key=lambda item: item[0] or ""):
        if not name or is_finished(job):
            continue
        found = job_waiting(name, job)
        if found is None and needs_pods(job):
            if callable(pods):
                pods = pods()
            found = pod_waiting(name, pods_of(job, pods), functools.partial(events, "Pod"))
        elif found is None and pods_refused(job):
            found = creation_waiting(name, events("Job", job["metadata"]["name"]))
        if found is not None:
            out.append(found)
    return out


def _say_why_waiting(status: dict[str, Any], waits: list[Waiting], emit: Emit) -> None:
    """One Waiting condition for the run (the first reason, the first five waiting steps), and
    an Event when it changes, so `kubectl describe` shows why nothing is happening. Every
    waiting step is listed in ``status.waitingSteps``: the one witness, once a Job's deadline
    has taken its pod, that the pod never started (``job_outcome.outcome``'s ``waited``). At
    most the generation's steps in flight, and gone once none waits."""
    before: dict[str, Any] = next((c for c in status.get("conditions", []) if c.get("type") == "Waiting"), {})
    if not waits:
        status.pop("waitingSteps", None)
        if before.get("status") == "True":
            status["conditions"] = set_condition(status["conditions"], "Waiting", "False", "StepsRunning", "")
        return
    status["waitingSteps"] = sorted({wait.step for wait in waits})
    message = "; ".join(wait.line for wait in waits[:5]) + (f"; and {len(waits) - 5} more" if len(waits) > 5 else "")
    reason = waits[0].reason
    status["conditions"] = set_condition(status.get("conditions", []), "Waiting", "True", reason, message[:1000])
    if (before.get("reason"), before.get("message"), before.get("status")) != (reason, message[:1000], "True"):
        kind = "Normal" if reason == "WaitingForAdmission" else "Warning"
        emit(kind, reason, message[:1000])


def _close_generation(shape: DagShape, budget: BudgetSpec, generation: int, done: dict[str, StepRecord],
                      status: dict[str, Any], emit: Emit, finish: bool) -> bool:
    """Record the generation's summary; then finish the run (True) or move to the next generation."""
    closing = Step(generation, Phase.SYNC if shape.adapts(generation) else Phase.SELECT)
    summary = done[closing.name].result
    archive = dict(status.get("archive") or {})
    for key, target in SUMMARY_KEYS.items():
        if summary.get(key) is not None:
            archive[target] = summary[key]
    status["archive"] = archive
    if summary.get("pool") is not None:
        status["taskPoolSize"] = summary["pool"]
    dropped = sorted(name for name, record in done.items() if record.status == "dropped")
    emit("Normal", "GenerationComplete",
         f"generation {generation}: archive {archive.get('size')}, best {archive.get('bestFitness')}, "
         f"coverage {archive.get('coverage')}, dropped {len(dropped)}")
    track_coverage(status)
    reason, message = "RunFinished", f"finished after generation {generation}"
    stop = None if finish else exhausted(budget, status, datetime.datetime.now(tz=datetime.UTC))
    if stop is not None:
        reason, message = stop[0], f"stopped after generation {generation}: {stop[1]}"
    if finish or stop is not None:
        status.update(phase="Succeeded", completionTime=now(), step=None)
        status["conditions"] = set_condition(status.get("conditions", []), "Progressing", "False", reason, message)
        status["conditions"] = set_condition(status["conditions"], "Ready", "True", reason, "")
        emit("Normal", "RunSucceeded", message)
        return True
    status["generation"] = generation + 1
    status["progress"] = {}
    return False


def _launch(kube: Kube, ref: RunRef, spec: CoevolutionRunSpec, status: dict[str, Any], actions: NextActions,
            jobs: dict[str | None, dict[str, Any]], result: Outcome) -> list[Waiting]:
    """Create the Jobs of ``actions.launch``; those the API server refuses (a ResourceQuota on
    the Job count, an admission webhook) are returned as waiting, to be tried at the next pass.
    Once the run has state, its volume is checked first (VolumeLost): a claim deleted under
    the run is found at its next step, not at the next infrastructure refresh."""
    generation = int(status["generation"])
    in_flight = [Step.parse(name) for name, job in jobs.items() if name and not is_finished(job)]
    if spec.suspend:
        state = "Suspended" if not in_flight else "Running"
        message = "paused" if not in_flight else f"pausing after {len(in_flight)} running step(s)"
        status["phase"] = state
        status["conditions"] = set_condition(status.get("conditions", []), "Suspended", "True", "SuspendRequested", message)
        metrics.set_steps_in_flight(ref.namespace, ref.name, in_flight)
        return []
    status["conditions"] = set_condition(status.get("conditions", []), "Suspended", "False", "Running", "")
    claim = claim_name(ref, spec)
    if actions.launch and (status.get("progress") or generation > 0):
        _check_volume(kube, ref.namespace, claim)  # the run has state on it: no step starts without it
    given_up = [name for name, record in (status.get("progress") or {}).items() if record.get("status") != "succeeded"]
    refused = []
    for step in actions.launch:
        try:
            existing = kube.create_or_existing(build_job(ref, spec, step, claim, given_up))
        except ApiError as exc:
            if exc.status not in REFUSALS:
                raise
            refused.append(Waiting(step.name, "JobRefused", f"the API server refused its Job: {exc}"))
            continue
        going = job_terminating(step.name, existing) if existing is not None else None
        if going is not None:  # deleted by someone mid-step, not gone yet: not running either
            refused.append(going)
            continue
        if existing is None:
            result.created.append(step.name)
        in_flight.append(step)
    status["phase"] = "Running"
    status["step"] = min(in_flight).name if in_flight else None
    status["conditions"] = set_condition(status["conditions"], "Progressing", "True", "StepsRunning",
                                         f"generation {generation}: {len(in_flight)} step(s) running")
    metrics.set_steps_in_flight(ref.namespace, ref.name, in_flight)
    return refused


REFUSALS = (403, 422)
"""Statuses of a create the next pass may see succeed once a person acts (quota, policy), as
opposed to a passing error (500, a timeout) that fails the reconcile for a quick retry."""


def _finish(kube: Kube, ref: RunRef, old: dict[str, Any], status: dict[str, Any], result: Outcome) -> Outcome:
    patch = merge_diff(old, status)
    if patch:
        kube.patch(RUNS, ref.namespace, ref.name, {"status": patch}, subresource="status")
        result.status_patch = patch
    metrics.set_run_status(ref.namespace, ref.name, _public_status(status))
    return result


def _public_status(status: dict[str, Any]) -> dict[str, Any]:
    """The status fields the metrics mirror (the model rejects unknown keys)."""
    keys = ("phase", "generation", "archive", "taskPoolSize", "evaluation")
    return {key: status[key] for key in keys if status.get(key) is not None}
