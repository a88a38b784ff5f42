"""What a finished Job means for its step: a record, or a failure that fails the run.

The phase's result travels in the pod's termination message (the Job has no room for
it). A Job failed by the pod failure policy (exit 3) is a rejection: the step is dropped
with the reason the phase gave. A phase that exits 75 hit an infrastructure fault (full
volume, damaged input; ``acdc.phases.faults``): nothing is recorded and the run fails, as
the local runner stops. A Job that exhausted its retries or its deadline is given up
(``dag_actions.give_up``, the runner's rule too): a per-model step is dropped, any other
step fails the run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from acdc.phases.dag_actions import give_up
from acdc.phases.faults import Fault, fault_of_exit_code
from acdc.steps import Step, StepRecord

JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


@dataclass(frozen=True)
class Outcome:
    record: StepRecord | None
    """The step's record, or None when the step failed and the run must fail."""
    reason: str
    message: str


def finished_condition(job: Mapping[str, Any]) -> Mapping[str, Any] | None:
    conditions: list[Mapping[str, Any]] = (job.get("status") or {}).get("conditions") or []
    for condition in conditions:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return condition
    return None


def is_finished(job: Mapping[str, Any]) -> bool:
    return finished_condition(job) is not None


def pods_of(job_name: str, pods: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [pod for pod in pods
            if any((pod.get("metadata", {}).get("labels") or {}).get(key) == job_name for key in JOB_NAME_LABELS)]


def termination_result(pods: list[Mapping[str, Any]]) -> StepRecord | None:
    """The record the phase wrote to its termination log, from the newest terminated pod."""
    for pod in reversed(pods):
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            message = ((container.get("state") or {}).get("terminated") or {}).get("message")
            if not message:
                continue
            try:
                return StepRecord.from_dict(json.loads(message))
            except (ValueError, KeyError, TypeError):
                continue
    return None


def exit_codes(pods: list[Mapping[str, Any]]) -> list[int]:
    """Exit codes of the phase containers that terminated, oldest pod first."""
    return [int(terminated["exitCode"])
            for pod in pods for container in (pod.get("status") or {}).get("containerStatuses") or []
            if (terminated := (container.get("state") or {}).get("terminated")) and "exitCode" in terminated]


def outcome(step: Step, job: Mapping[str, Any], pods: list[Mapping[str, Any]]) -> Outcome:
    condition = finished_condition(job)
    if condition is None:
        raise ValueError(f"job for {step.name} has not finished")
    reason = condition.get("reason") or condition["type"]
    message = condition.get("message") or ""
    reported = termination_result(pods)
    if condition["type"] == "Complete":
        return Outcome(reported or StepRecord("succeeded", {}), reason, message)
    if any(fault_of_exit_code(code) is Fault.INFRASTRUCTURE for code in exit_codes(pods)):
        return Outcome(None, "InfrastructureFault", message or "the phase hit an infrastructure fault")
    if reason == "PodFailurePolicy":
        result = dict(reported.result) if reported else {"rejected": message or "rejected by the phase"}
        return Outcome(StepRecord("dropped", result), reason, message)
    return Outcome(give_up(step, reason, message), reason, message)
