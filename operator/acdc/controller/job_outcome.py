"""What a finished Job means for its step: a record, or a failure that fails the run.

The phase's result travels in the pod's termination message (the Job has no room for
it); a Job that completed without a readable one is not recorded (an empty result would
read as a step that found nothing) and fails the run, which a resume re-runs. The pod
failure policy fails a Job at once on exit 3 or 75, and the exit code decides (read from
the pod, or from the Job's condition message once the pod is gone): 3 is a rejection, the
step is dropped with the reason the phase gave; 75 an infrastructure fault (full volume,
damaged input; ``acdc.phases.faults``): nothing is recorded and the run fails, as the
local runner stops, its message naming the cause the phase wrote to its termination log
(``fault_cause``) so that no one has to find the pod for it. So is a phase the kernel
killed for its memory limit in the Job's last attempt (OOMKilled: the runner's lost worker;
an earlier attempt's OOM that a later one outlived is not why the Job failed) and a Job whose deadline passed before its pod ever
started (never scheduled, image never pulled), or while its pod was being replaced (evicted, then
not scheduled again; stuck terminating on a lost node): neither is the step's subject's fault.
Evictions and preemptions do not fail the Job at all (the policy ignores pods with a
DisruptionTarget condition). A Job that exhausted its retries or its deadline while running is given up
(``dag_actions.give_up``, the runner's rule too): a per-model step is dropped, any other
step fails the run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from acdc.logsafe import escape_controls
from acdc.phases.context import FAULT_CAUSE_CHARS, TERMINATION_MESSAGE_LIMIT
from acdc.phases.dag_actions import give_up
from acdc.phases.faults import Fault, fault_of_exit_code
from acdc.steps import Step, StepRecord

CONTROLLER_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
"""The Job controller's labels on a Job's pods, naming the Job by uid (older clusters set the second only)."""
POLICY_EXIT_CODE = re.compile(r"failed with exit code (\d+) matching FailJob rule")
"""The Job controller's PodFailurePolicy message: 'Container phase for pod ml/x failed with
exit code 75 matching FailJob rule at index 1'."""


@dataclass(frozen=True)
class Outcome:
    record: StepRecord | None
    """The step's record, or None when the step failed and the run must fail."""
    reason: str
    message: str


DECIDED = {"Complete": "Complete", "Failed": "Failed", "SuccessCriteriaMet": "Complete", "FailureTarget": "Failed"}
"""A Job condition that decides its fate -> the terminal condition it stands for. Since Kubernetes
1.31 the Job controller sets FailureTarget (SuccessCriteriaMet) first and Failed (Complete) only
once every pod of the Job has ended: a pod stuck Terminating on a lost node held Failed back
for good, and the run with it, Running with nothing to say."""


def finished_condition(job: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The condition that decided the Job's fate, typed Complete or Failed (a terminal one rather
    than its early twin when both are set; they carry the same reason and message)."""
    conditions: list[Mapping[str, Any]] = (job.get("status") or {}).get("conditions") or []
    decided = [c for c in conditions if c.get("type") in DECIDED and c.get("status") == "True"]
    if not decided:
        return None
    condition = next((c for c in decided if DECIDED[c["type"]] == c["type"]), decided[0])
    return {**condition, "type": DECIDED[condition["type"]]}


def is_finished(job: Mapping[str, Any]) -> bool:
    return finished_condition(job) is not None


def pods_of(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The pods ``job`` made, oldest first, known by the Job's uid (the Job controller's label
    on them, or their controlling ownerReference), never by its name: a resume deletes a Job
    and creates it again under the same name, and a pod of the deleted one that garbage
    collection has not reached yet carries the same job-name label; its exit code,
    termination message or OOMKilled would be read as the new Job's."""
    uid = (job.get("metadata") or {}).get("uid")
    mine = [pod for pod in pods if uid and _controller_uid(pod) == uid]
    return sorted(mine, key=lambda pod: (str((pod.get("metadata") or {}).get("creationTimestamp") or ""),
                                         str((pod.get("metadata") or {}).get("name") or "")))


def _controller_uid(pod: Mapping[str, Any]) -> str | None:
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    named = next((labels[key] for key in CONTROLLER_UID_LABELS if labels.get(key)), None)
    owner = next((ref.get("uid") for ref in meta.get("ownerReferences") or [] if ref.get("controller")), None)
    return named or owner


def _containers(pods: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The container statuses of ``pods``, oldest pod first."""
    return [container for pod in pods for container in (pod.get("status") or {}).get("containerStatuses") or []]


def _terminated(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return (container.get("state") or {}).get("terminated") or {}


def termination_messages(pods: list[Mapping[str, Any]]) -> list[str]:
    """What the containers wrote to their termination logs, newest pod first."""
    return [message for container in reversed(_containers(pods)) if (message := _terminated(container).get("message"))]


def json_object(message: object) -> dict[str, Any] | None:
    """A termination message read as the JSON object it should be; None for anything else (not
    text, garbled, cut short, a list, arrays nested too deep for the parser): the pod wrote it, and
    no message may crash the reconcile that reads it."""
    if not isinstance(message, str):
        return None
    try:
        said = json.loads(message)
    except (ValueError, RecursionError):
        return None
    return said if isinstance(said, dict) else None


def termination_result(pods: list[Mapping[str, Any]]) -> StepRecord | None:
    """The record the phase wrote to its termination log, from the newest terminated pod."""
    for message in termination_messages(pods):
        said = json_object(message)
        if said is None:
            continue
        try:
            return StepRecord.from_dict(said)
        except (ValueError, KeyError, TypeError):
            continue
    return None


def fault_cause(pods: list[Mapping[str, Any]]) -> str | None:
    """The cause an infrastructure fault's phase wrote to its termination log (``{"fault": cause}``,
    ``acdc.phases.context.fault_message``), from the Job's last attempt; None when it left none
    readable. The message is the pod's to write, so it is trusted with nothing: one too long for
    the kubelet to have kept whole, not JSON, or without a text cause is no cause; the cause is
    shown as text only, on one line (controls escaped), valid UTF-8 and cut to FAULT_CAUSE_CHARS."""
    attempt = last_attempt(pods)
    for message in termination_messages([attempt] if attempt is not None else []):
        if not isinstance(message, str) or len(message.encode("utf-8", "replace")) > TERMINATION_MESSAGE_LIMIT:
            continue
        cause = (json_object(message) or {}).get("fault")
        if isinstance(cause, str) and cause.strip():
            shown = escape_controls(cause.strip().encode("utf-8", "replace").decode())  # no lone surrogate
            return shown if len(shown) <= FAULT_CAUSE_CHARS else shown[:FAULT_CAUSE_CHARS] + "..."
    return None


def exit_codes(pods: list[Mapping[str, Any]]) -> list[int]:
    """Exit codes of the phase containers that terminated, oldest pod first."""
    return [int(terminated["exitCode"]) for container in _containers(pods)
            if "exitCode" in (terminated := _terminated(container))]


def policy_exit_code(message: str, pods: list[Mapping[str, Any]]) -> int | None:
    """The exit code that made the pod failure policy fail the Job: named in the condition's
    message (the pod may be gone: node scaled away, pod garbage-collected), else the newest
    code the policy matches on a pod still there; None when neither says."""
    found = POLICY_EXIT_CODE.search(message)
    if found:
        return int(found.group(1))
    matched = [code for code in exit_codes(pods) if fault_of_exit_code(code) in (Fault.REJECTED, Fault.INFRASTRUCTURE)]
    return matched[-1] if matched else None


def last_attempt(pods: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The newest of ``pods`` (oldest first, as ``pods_of`` orders them) whose phase container
    terminated: the attempt whose end failed the Job."""
    return next((pod for pod in reversed(pods) if any(_terminated(c) for c in _containers([pod]))), None)


def oom_killed(pods: list[Mapping[str, Any]]) -> bool:
    """The Job's last attempt was killed by the kernel at its memory limit: the limit's fault,
    not the step's. An earlier attempt's OOM is not why the Job failed when a later one ended
    otherwise (a crash that exhausted the retries, a deadline while running)."""
    attempt = last_attempt(pods)
    return attempt is not None and any(_terminated(c).get("reason") == "OOMKilled" for c in _containers([attempt]))


def ever_started(pods: list[Mapping[str, Any]]) -> bool:
    """Whether a phase container of these pods ever ran (the kubelet stamps startedAt on one that did)."""
    return any(container.get("started") or "running" in (container.get("state") or {})
               or _terminated(container).get("startedAt") for container in _containers(pods))


def _rejected_or_fault(message: str, pods: list[Mapping[str, Any]]) -> Outcome:
    """A Job the pod failure policy failed: only exit 3 is a rejection. An exit code that
    cannot be read fails the run rather than drop a step that may have hit a full disk."""
    code = policy_exit_code(message, pods)
    fault = fault_of_exit_code(code)
    if fault is Fault.REJECTED:
        reported = termination_result(pods)
        result = dict(reported.result) if reported else {"rejected": message or "rejected by the phase"}
        return Outcome(StepRecord("dropped", result), "PodFailurePolicy", message)
    if fault is Fault.INFRASTRUCTURE:
        said = message or "the phase hit an infrastructure fault"
        cause = fault_cause(pods)
        return Outcome(None, "InfrastructureFault", f"{cause} ({said})" if cause else said)
    said = f"exit code {code}" if code is not None else "an exit code no pod or condition message shows"
    return Outcome(None, "PodFailurePolicy", f"failed by the pod failure policy with {said}; not taken for a "
                                             f"rejection ({message or 'no message'})")


def outcome(step: Step, job: Mapping[str, Any], pods: list[Mapping[str, Any]], waited: bool = False) -> Outcome:
    """``pods``: the Job's own (``pods_of``), oldest first. ``waited``: the operator's last pass
    found the step waiting for a pod to run (``status.waitingSteps``: not scheduled, not pulled,
    stuck terminating), the one witness left when the Job's deadline removed its pod."""
    condition = finished_condition(job)
    if condition is None:
        raise ValueError(f"job for {step.name} has not finished")
    reason = condition.get("reason") or condition["type"]
    message = condition.get("message") or ""
    if condition["type"] == "Complete":
        reported = termination_result(pods)
        if reported is None:
            name = (job.get("metadata") or {}).get("name", step.name)
            return Outcome(None, "ResultUnreadable", f"Job {name} completed but its pod's termination message (the "
                                                     "step's record) is missing or unreadable; not recorded")
        return Outcome(reported, reason, message)
    if reason == "PodFailurePolicy":
        return _rejected_or_fault(message, pods)
    if oom_killed(pods):
        return Outcome(None, "OOMKilled", f"the phase was killed at its memory limit; raise "
                                          f"spec.resources.{step.phase.resource_class}.memory ({reason}: {message})")
    if reason == "DeadlineExceeded" and not ever_started(pods) and (pods or waited):
        return Outcome(None, "NeverStarted", f"the deadline passed before the step's pod ever started "
                                             f"(not scheduled, image not pulled, volume not mounted): {message}")
    if reason == "DeadlineExceeded" and (waited or (pods and not ever_started(pods[-1:]))):
        return Outcome(None, "NotRunning", f"the deadline passed while the step had no pod running: its pod "
                                           f"was evicted or lost and the next one never started, or was stuck "
                                           f"terminating (a lost node); not the step's fault: {message}")
    return Outcome(give_up(step, reason, message), reason, message)
