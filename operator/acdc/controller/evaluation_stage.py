"""The benchmark evaluation stage: Jobs the operator runs after a run's final generation.

It is a separate, small stage after the generation DAG (which ends when the run is
Succeeded), so the DAG stays the single description of a generation. Three kinds of Job,
all running ``acdc evaluate`` against the run's volume with the live spec:

    [prefetch (CPU, network)] -> plan (CPU) -> shard 0..S-1 (spec.resources.evaluate: GPUs, vLLM)
                              -> summary (CPU) -> [export (CPU, when spec.evaluation.export)]

The plan Job chooses the compared models on the volume and reports the number of shards S
in its termination message (the operator cannot read the volume); each shard Job writes
one per-sample log; the summary Job computes coverage@N and best-of-N, writes the report
and reports the headline, which lands in ``status.evaluation``; the export Job uploads the
task force (``acdc export``) with the token Secret as HF_TOKEN and reports the commit.
Every Job but prefetch and export runs offline against the dataset cache on the volume
(``harness.offline_environment``: HF_HOME, HF_DATASETS_CACHE, HF_*_OFFLINE); the prefetch
Job (``spec.evaluation.prefetch``) fills that cache first, with downloads allowed. Job names are
deterministic, so a restarted operator re-derives everything from status and Jobs, and a
re-created shard Job finds its log and exits at once (finished shards are never re-run).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from acdc.controller import names
from acdc.controller.job_env import api_key_env
from acdc.controller.job_manifest import SPEC_FILE, STATE_MOUNT, TERMINATION_LOG, build_job
from acdc.controller.job_outcome import finished_condition, is_finished, json_object, pods_of, termination_messages
from acdc.controller.kube import JOBS, PODS, Kube
from acdc.controller.ownership import live_and_controlled_by
from acdc.controller.run_ref import RunRef
from acdc.controller.volume_manifests import claim_name
from acdc.delivery.export import EXPORT_MOUNT, TOKEN_ENV
from acdc.evaluation.harness import offline_environment
from acdc.evaluation.prefetch import online_environment
from acdc.spec import CoevolutionRunSpec
from acdc.steps import Phase, Step

STAGE = "benchmark"
LABEL_EVALUATION = f"{names.GROUP}/evaluation"
CONTROL_PARTS = ("prefetch", "plan", "summary", "export")  # the stage's CPU Jobs; every other part is a shard
Emit = Callable[[str, str, str], None]


def evaluation_pending(spec: CoevolutionRunSpec, status: dict[str, Any]) -> bool:
    """A finished run whose spec asks for evaluation that has not ended yet."""
    phase = (status.get("evaluation") or {}).get("phase")
    return spec.evaluation.enabled and status.get("phase") == "Succeeded" and phase not in ("Succeeded", "Failed")


def job_name(run: str, part: str) -> str:
    return f"{names.short(run, names.MAX_NAME - len('-eval-summary'))}-eval-{part}"


def _command(part: str, device: str) -> list[str]:
    base = ["acdc", "evaluate", STATE_MOUNT, "--run", SPEC_FILE, "--termination-log", TERMINATION_LOG]
    if part == "plan":
        return [*base, "--plan"]
    if part == "prefetch":
        return [*base, "--prefetch"]
    if part == "summary":
        return [*base, "--report"]
    if part == "export":
        return ["acdc", "export", STATE_MOUNT, "--run", SPEC_FILE, "--termination-log", TERMINATION_LOG]
    return [*base, "--shard-index", str(int(part)), "--no-summary", "--device", device]


def build_evaluation_job(ref: RunRef, spec: CoevolutionRunSpec, generation: int, part: str) -> dict[str, Any]:
    """A Job of the stage: the phase Job of the same resource class, renamed and given its command.

    Shards use spec.resources.evaluate (GPU Jobs); plan and summary the small control class.
    """
    shard = part not in CONTROL_PARTS
    template = Step(generation, Phase.EVALUATE, 0) if shard else Step(generation, Phase.SELECT)
    job = build_job(ref, spec, template, claim_name(ref, spec))
    labels = {**names.run_labels(ref.name), names.LABEL_GENERATION: str(generation), names.LABEL_PHASE: STAGE,
              LABEL_EVALUATION: part}
    name = job_name(ref.name, part)
    job["metadata"]["name"] = name
    job["metadata"]["labels"] = {**labels, **{k: v for k, v in job["metadata"]["labels"].items()
                                              if k == names.LABEL_KUEUE_QUEUE}}
    job["spec"]["template"]["metadata"]["labels"] = labels
    container = job["spec"]["template"]["spec"]["containers"][0]
    device = "cuda" if spec.resources.evaluate.gpus > 0 else "cpu"
    container["command"] = _command(part, device)
    endpoint = spec.best_of_n_judge
    if part == "summary" and "judge" in spec.evaluation.best_of_n and endpoint and endpoint.api_key_secret:
        secret = endpoint.api_key_secret
        container["env"].append({"name": api_key_env("judge"),
                                 "valueFrom": {"secretKeyRef": {"name": secret.name, "key": secret.key}}})
    cache = Path(spec.evaluation.dataset_cache)
    cache = cache if cache.is_absolute() else Path(STATE_MOUNT) / cache
    if part == "prefetch":
        hub_env = online_environment(cache)
    elif part == "export":
        hub_env = {}
    else:
        hub_env = offline_environment(cache, spec.evaluation.offline)
    container["env"] += [{"name": key, "value": value} for key, value in hub_env.items()]
    export = spec.evaluation.export
    if part == "export" and export is not None and export.claim is not None:
        job["spec"]["template"]["spec"]["volumes"].append({"name": "export", "persistentVolumeClaim": {
            "claimName": export.claim}})
        container["volumeMounts"].append({"name": "export", "mountPath": str(EXPORT_MOUNT)})
    elif part == "export" and export is not None:
        container["env"].append({"name": "HF_HUB_OFFLINE", "value": "0"})  # the worker image sets it to 1
        if export.token_secret is not None:
            container["env"].append({"name": TOKEN_ENV, "valueFrom": {"secretKeyRef": {
                "name": export.token_secret.name, "key": export.token_secret.key}}})
    return job


def _reported(kube: Kube, ref: RunRef, job: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON object the Job's container wrote to its termination log (None when there is none)."""
    pods = pods_of(job, kube.list(PODS, ref.namespace, names.run_labels(ref.name)))
    return next((report for message in termination_messages(pods) if (report := json_object(message)) is not None), None)


def _stage_jobs(kube: Kube, ref: RunRef) -> dict[str, dict[str, Any]]:
    """The stage's own Jobs by part, without those being deleted (a resume's, until they are gone)."""
    listed = live_and_controlled_by(kube.list(JOBS, ref.namespace, names.run_labels(ref.name)), ref.uid)
    return {job["metadata"]["labels"][LABEL_EVALUATION]: job for job in listed
            if (job["metadata"].get("labels") or {}).get(LABEL_EVALUATION)}


def evaluation_resumable(spec: CoevolutionRunSpec, status: dict[str, Any]) -> bool:
    return spec.evaluation.enabled and status.get("phase") == "Succeeded" and \
        (status.get("evaluation") or {}).get("phase") == "Failed"


def resume_evaluation(kube: Kube, ref: RunRef, status: dict[str, Any]) -> list[str]:
    """Take a failed stage back to Running, so the next pass goes on from where it stopped: the
    Jobs that failed are deleted, and so is the one whose report was unreadable
    (``evaluation.failedPart``), to be created again; finished shards stay finished (their logs
    are on the volume, and a shard Job created again would find its log and exit at once), and
    the plan's shard count once read stays. The parts that run again, sorted."""
    evaluation = dict(status.get("evaluation") or {})
    again = []
    for part, job in _stage_jobs(kube, ref).items():
        condition = finished_condition(job)
        if part == evaluation.get("failedPart") or (condition is not None and condition["type"] == "Failed"):
            kube.delete(JOBS, ref.namespace, job["metadata"]["name"], uid=job["metadata"].get("uid"))
            again.append(part)
    for key in ("message", "failedPart"):
        evaluation.pop(key, None)
    status["evaluation"] = {**evaluation, "phase": "Running"}
    return sorted(again)


def advance_evaluation(kube: Kube, ref: RunRef, spec: CoevolutionRunSpec, status: dict[str, Any], emit: Emit,
                       created: list[str]) -> None:
    """One level-triggered step of the stage: read its Jobs, record what finished, create what is due."""
    generation = int(status.get("generation", 0))
    jobs = _stage_jobs(kube, ref)
    evaluation = dict(status.get("evaluation") or {"phase": "Running"})
    status["evaluation"] = evaluation

    def create(part: str) -> None:
        if part not in jobs and kube.create(build_evaluation_job(ref, spec, generation, part)):
            created.append(job_name(ref.name, part))

    def failed(part: str) -> bool:
        condition = finished_condition(jobs[part])
        if condition is None or condition["type"] != "Failed":
            return False
        message = f"evaluation {part} Job failed: {condition.get('reason')} {condition.get('message') or ''}".strip()
        evaluation.update(phase="Failed", message=message[:300], failedPart=part)
        emit("Warning", "EvaluationFailed", message)
        return True

    def report(part: str, key: str, kinds: type | tuple[type, ...]) -> dict[str, Any] | None:
        """The part's reported result when it holds ``key`` of the expected kind; else the stage
        fails: a missing or garbled termination message is no result (read as 0 shards, it
        skipped the whole evaluation and reported success)."""
        found = _reported(kube, ref, jobs[part])
        if found is not None and key in found and isinstance(found[key], kinds) and not isinstance(found[key], bool):
            return found
        message = f"evaluation {part} Job completed without a readable {key!r} in its termination message"
        evaluation.update(phase="Failed", message=message, failedPart=part)
        emit("Warning", "EvaluationFailed", message)
        return None

    if spec.evaluation.prefetch:
        if "prefetch" not in jobs or not is_finished(jobs["prefetch"]):
            create("prefetch")
            return
        if failed("prefetch"):
            return
    if "plan" not in jobs or not is_finished(jobs["plan"]):
        create("plan")
        return
    if failed("plan"):
        return
    if "shardsTotal" not in evaluation:
        plan = report("plan", "shards", int)
        if plan is None:
            return
        evaluation["shardsTotal"] = plan["shards"]
        emit("Normal", "EvaluationStarted", f"benchmark evaluation: {evaluation['shardsTotal']} shard Job(s)")
    total = int(evaluation["shardsTotal"])
    parts = [f"{i:03d}" for i in range(total)]
    if any(part in jobs and failed(part) for part in parts):
        return
    evaluation["shardsDone"] = sum(part in jobs and is_finished(jobs[part]) for part in parts)
    for part in parts:
        create(part)
    if evaluation["shardsDone"] < total:
        return
    if "summary" not in jobs or not is_finished(jobs["summary"]):
        create("summary")
        return
    if failed("summary"):
        return
    summary = report("summary", "headline", (dict, type(None)))  # None: nothing to compare (no task force)
    if summary is None:
        return
    headline = summary["headline"] or {}
    evaluation.update({k: headline[k] for k in ("benchmark", "size", "taskforce", "seeds", "best") if k in headline})
    if spec.evaluation.export is not None:
        if "export" not in jobs or not is_finished(jobs["export"]):
            create("export")
            return
        if failed("export"):
            return
        exported = report("export", "commit", str)
        if exported is None:
            return
        evaluation["exported"] = exported["commit"]
    evaluation["phase"] = "Succeeded"
    emit("Normal", "EvaluationSucceeded", json.dumps(headline)[:500])
