"""Why a step that has a Job is not running yet, read from its Job and pods.

``kubectl describe coevolutionrun`` should answer "why is nothing happening": the operator
turns what the Job controller, the scheduler, the kubelet and Kueue wrote on the Job and
its pods into one ``Waiting`` condition and an Event naming the step. Quota shows up as
Kueue admission (Kueue holds a Job suspended until its ClusterQueue has quota) or, with a
plain ResourceQuota, as the Job controller's FailedCreate Events on a Job that has no pod.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from acdc.controller.names import LABEL_KUEUE_QUEUE

IMAGE_PULL = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName"})


@dataclass(frozen=True)
class Waiting:
    step: str
    reason: str
    """WaitingForAdmission, Preempted, QuotaExceeded, FailedCreate, Unschedulable, WaitingForVolume
    or ImagePullBackOff."""
    message: str

    @property
    def line(self) -> str:
        return f"{self.step}: {self.message}"


def suspended(job: Mapping[str, Any]) -> bool:
    return bool((job.get("spec") or {}).get("suspend"))


def needs_pods(job: Mapping[str, Any]) -> bool:
    """A Job with a pod that is not ready yet: only then are its pods worth reading."""
    status = job.get("status") or {}
    return not suspended(job) and int(status.get("active") or 0) > 0 and not int(status.get("ready") or 0)


def pods_refused(job: Mapping[str, Any]) -> bool:
    """Started, not suspended, and not one pod yet: the Job controller may be failing to create
    them (a ResourceQuota, an admission webhook). Only then are the Job's Events worth reading;
    it says why in nothing but those Events."""
    status = job.get("status") or {}
    return (not suspended(job) and bool(status.get("startTime"))
            and not any(int(status.get(key) or 0) for key in ("active", "ready", "failed", "succeeded")))


def creation_waiting(step: str, events: Sequence[Mapping[str, Any]]) -> Waiting | None:
    """The newest FailedCreate Event on the Job: QuotaExceeded when a ResourceQuota refused the pod."""
    refused = [event for event in events if event.get("reason") == "FailedCreate"]
    if not refused:
        return None
    newest = max(refused, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    message = str(newest.get("message") or "pod creation refused")
    return Waiting(step, "QuotaExceeded" if "exceeded quota" in message else "FailedCreate", message)


def job_waiting(step: str, job: Mapping[str, Any]) -> Waiting | None:
    """A suspended Job waits for Kueue; one that had started was preempted (it is not a
    failure: its pods' end does not count against backoffLimit, and it runs again on
    re-admission)."""
    if not suspended(job):
        return None
    queue = ((job.get("metadata") or {}).get("labels") or {}).get(LABEL_KUEUE_QUEUE, "")
    if (job.get("status") or {}).get("startTime"):
        return Waiting(step, "Preempted", f"suspended again by Kueue (queue {queue}); waiting for re-admission")
    return Waiting(step, "WaitingForAdmission", f"waiting for Kueue admission in queue {queue}")


def pod_waiting(step: str, pods: list[Mapping[str, Any]]) -> Waiting | None:
    """The newest pending pod's reason: image pull failures first, then the scheduler's."""
    for pod in reversed(pods):
        status = pod.get("status") or {}
        if status.get("phase") not in (None, "Pending"):
            continue
        for container in status.get("containerStatuses") or []:
            state = (container.get("state") or {}).get("waiting") or {}
            if state.get("reason") in IMAGE_PULL:
                return Waiting(step, "ImagePullBackOff", f"{state['reason']}: {state.get('message', '')}".strip())
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                message = condition.get("message") or condition.get("reason") or "not scheduled"
                unbound = "unbound" in message and "PersistentVolumeClaim" in message
                return Waiting(step, "WaitingForVolume" if unbound else "Unschedulable", message)
    return None
