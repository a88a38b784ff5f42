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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from acdc import metrics
from acdc.controller import names, tenancy
from acdc.controller.budget import job_gpu_hours
from acdc.controller.evaluation_stage import advance_evaluation, evaluation_pending
from acdc.controller.job_manifest import build_job
from acdc.controller.job_outcome import is_finished, outcome, pods_of
from acdc.controller.kube import JOBS, PODS, RUNS, Kube
from acdc.controller.ownership import NotOwned
from acdc.controller.run_ref import RunRef
from acdc.controller.sandbox_policy import build_sandbox_policy
from acdc.controller.server_manifests import build_deployment, build_server_policy, build_service, deployed_endpoints
from acdc.controller.spec_guard import changed_fields, digests
from acdc.controller.status_patch import merge_diff, now, set_condition
from acdc.controller.volume_manifests import build_claim, build_spec_configmap, claim_name
from acdc.controller.waiting import (
    Waiting,
    creation_waiting,
    job_waiting,
    needs_pods,
    pod_waiting,
    pods_refused,
    waiting_named,
)
from acdc.phases.budget import exhausted, track_coverage
from acdc.phases.dag import DagShape
from acdc.phases.dag_actions import SKIPPED, NextActions, next_actions
from acdc.spec import CoevolutionRunSpec, SpecInvalid, parse_run
from acdc.spec.run import BudgetSpec
from acdc.steps import Phase, Step, StepRecord

log = logging.getLogger(__name__)

Emit = Callable[[str, str, str], None]
"""emit(type, reason, message): post a Kubernetes Event on the run (Normal or Warning)."""

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
        message = "; ".join(exc.problems)
        status.update(phase="Failed", lastError=message)
        status["conditions"] = set_condition(status.get("conditions", []), "Failed", "True", "InvalidSpec", message)
        if old.get("lastError") != message:
            emit("Warning", "InvalidSpec", message[:1000])
        return _finish(kube, ref, old, status, result)
    spec = derived.spec
    _delete_closed_jobs(kube, ref, spec, status)  # from what the server holds: outcomes already saved
    if status.get("phase") in ("Succeeded", "Failed") and _failed_reason(status) != "InvalidSpec":
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
    if refused:
        message = f"spec fields cannot change mid-run: {', '.join(refused)}; revert them to continue"
        status["conditions"] = set_condition(status.get("conditions", []), "Degraded", "True", "SpecChangeRefused", message)
        if "SpecChangeRefused" not in json.dumps(old.get("conditions", [])) or _degraded(old) != "True":
            emit("Warning", "SpecChangeRefused", message)
        return _finish(kube, ref, old, status, result)
    if _degraded(status) == "True":
        status["conditions"] = set_condition(status["conditions"], "Degraded", "False", "SpecAccepted", "")
    barred = tenancy.refusals(kube, ref, spec)
    if not barred:
        try:
            if _ensure_infra(kube, derived, status):
                _finish(kube, ref, old, status, result)  # saved at once: a crash need not redo it all
                old = copy.deepcopy(status)
            _advance(kube, ref, spec, status, emit, result)
        except NotOwned as exc:
            barred = [tenancy.Refusal(exc.reason, str(exc))]
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


def _failed_reason(status: dict[str, Any]) -> str | None:
    conditions: list[dict[str, Any]] = status.get("conditions", [])
    for condition in conditions:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            reason: str | None = condition.get("reason")
            return reason
    return None


def _degraded(status: dict[str, Any]) -> str | None:
    return next((c.get("status") for c in status.get("conditions", []) if c.get("type") == "Degraded"), None)


def _ensure_infra(kube: Kube, derived: DerivedSpec, status: dict[str, Any]) -> bool:
    """Apply the run's infrastructure when it changed since last applied (mutable fields do)."""
    if status.get("infraDigest") == derived.infra_digest:
        return False
    for manifest in derived.infra:
        # A bound claim's spec is immutable: create once, never patch. A copy: the memo's stays as built.
        kube.apply(copy.deepcopy(manifest), update=manifest["kind"] != "PersistentVolumeClaim")
    status["infraDigest"] = derived.infra_digest
    return True


def _advance(kube: Kube, ref: RunRef, spec: CoevolutionRunSpec, status: dict[str, Any], emit: Emit, result: Outcome) -> None:
    shape = DagShape.from_spec(spec)
    while True:
        generation = int(status["generation"])
        selector = names.generation_labels(ref.name, generation)
        jobs = {job["metadata"]["labels"].get(names.LABEL_STEP): job for job in kube.list(JOBS, ref.namespace, selector)}
        pods: list[dict[str, Any]] | None = None
        progress: dict[str, Any] = status.setdefault("progress", {})
        done = {name: StepRecord.from_dict(rec) for name, rec in progress.items()}
        for name, job in jobs.items():
            if name in done or not name or not is_finished(job):
                continue
            step = Step.parse(name)
            if pods is None:
                pods = kube.list(PODS, ref.namespace, selector)
            found = outcome(step, job, pods_of(job["metadata"]["name"], pods),
                            waiting_named(status.get("conditions", []), name))
            if found.record is None:
                message = f"{name} failed ({found.reason}): {found.message}".strip()
                status.update(phase="Failed", lastError=message, completionTime=now(), step=name)
                status["conditions"] = set_condition(status.get("conditions", []), "Failed", "True", "StepFailed", message)
                status["conditions"] = set_condition(status["conditions"], "Progressing", "False", "StepFailed", message)
                emit("Warning", "StepFailed", message)
                metrics.observe_step_failure(ref.namespace, ref.name, step.phase, retried=False)
                return
            done[name] = found.record
            progress[name] = found.record.to_dict()
            status["gpuHours"] = round(float(status.get("gpuHours") or 0.0) + job_gpu_hours(job), 6)
            result.recorded.append(name)
            metrics.record_step(ref.namespace, ref.name, step, found.record)
            if found.record.status == "dropped":
                emit("Warning", "StepDropped", f"{name} dropped: {json.dumps(found.record.result)[:300]}")
        running = {name for name, job in jobs.items() if name and not is_finished(job)}
        actions = next_actions(shape, generation, done, running)
        for step in actions.skip:
            done[step.name] = SKIPPED
            progress[step.name] = SKIPPED.to_dict()
        if not actions.close:
            _launch(kube, ref, spec, status, actions, jobs, result)
            waits = _waiting(jobs, pods if pods is not None else functools.partial(kube.list, PODS, ref.namespace, selector),
                             functools.partial(kube.events_about, ref.namespace))
            _say_why_waiting(status, waits, emit)
            return
        if _close_generation(shape, spec.budget, generation, done, status, emit, actions.finish):
            return


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
            found = pod_waiting(name, pods_of(job["metadata"]["name"], pods), functools.partial(events, "Pod"))
        elif found is None and pods_refused(job):
            found = creation_waiting(name, events("Job", job["metadata"]["name"]))
        if found is not None:
            out.append(found)
    return out


def _say_why_waiting(status: dict[str, Any], waits: list[Waiting], emit: Emit) -> None:
    """One Waiting condition for the run (the first reason, every waiting step), and an Event
    when it changes, so `kubectl describe` shows why nothing is happening."""
    before: dict[str, Any] = next((c for c in status.get("conditions", []) if c.get("type") == "Waiting"), {})
    if not waits:
        if before.get("status") == "True":
            status["conditions"] = set_condition(status["conditions"], "Waiting", "False", "StepsRunning", "")
        return
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
            jobs: dict[str | None, dict[str, Any]], result: Outcome) -> None:
    generation = int(status["generation"])
    in_flight = [Step.parse(name) for name, job in jobs.items() if name and not is_finished(job)]
    if spec.suspend:
        state = "Suspended" if not in_flight else "Running"
        message = "paused" if not in_flight else f"pausing after {len(in_flight)} running step(s)"
        status["phase"] = state
        status["conditions"] = set_condition(status.get("conditions", []), "Suspended", "True", "SuspendRequested", message)
        metrics.set_steps_in_flight(ref.namespace, ref.name, in_flight)
        return
    status["conditions"] = set_condition(status.get("conditions", []), "Suspended", "False", "Running", "")
    claim = claim_name(ref, spec)
    for step in actions.launch:
        if kube.create(build_job(ref, spec, step, claim)):
            result.created.append(step.name)
        in_flight.append(step)
    status["phase"] = "Running"
    status["step"] = min(in_flight).name if in_flight else None
    status["conditions"] = set_condition(status["conditions"], "Progressing", "True", "StepsRunning",
                                         f"generation {generation}: {len(in_flight)} step(s) running")
    metrics.set_steps_in_flight(ref.namespace, ref.name, in_flight)


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
