"""Why a step that has a Job is not running yet, read from its Job and pods.

``kubectl describe coevolutionrun`` should answer "why is nothing happening": the operator
turns what the Job controller, the scheduler, the kubelet and Kueue wrote on the Job and
its pods into one ``Waiting`` condition and an Event naming the step. Quota shows up as
Kueue admission (Kueue holds a Job suspended until its ClusterQueue has quota) or, with a
plain ResourceQuota, as the Job controller's FailedCreate Events on a Job that has no pod.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from acdc.controller.names import LABEL_KUEUE_QUEUE

CONTAINER_WAITING = {
    **dict.fromkeys(("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull", "ImageInspectError",
                     "RegistryUnavailable", "SignatureValidationFailed"), "ImagePullBackOff"),
    "CreateContainerConfigError": "CreateContainerConfigError",
    **dict.fromkeys(("CreateContainerError", "RunContainerError", "PreStartHookError"), "CreateContainerError"),
}
"""A pending container's waiting reason -> the run's Waiting reason. CreateContainerConfigError:
the container's env names a Secret, ConfigMap or key that does not exist; CreateContainerError:
the runtime could not create or start it. Any other reason but the two of a container on its
way (CONTAINER_STARTING) is reported as ContainerWaiting, with the kubelet's reason."""
CONTAINER_STARTING = ("ContainerCreating", "PodInitializing")
Events = Callable[[str], Sequence[Mapping[str, Any]]]
"""events(name): the Events about the object of that name (a Job's or a pod's)."""


@dataclass(frozen=True)
class Waiting:
    step: str
    reason: str
    """WaitingForAdmission, Preempted, QuotaExceeded, FailedCreate, Unschedulable, WaitingForVolume,
    ImagePullBackOff, CreateContainerConfigError, CreateContainerError, ContainerWaiting, FailedMount,
    PodTerminating, NodeLost or JobTerminating."""
    message: str

    @property
    def line(self) -> str:
        return f"{self.step}: {self.message}"


def suspended(job: Mapping[str, Any]) -> bool:
    return bool((job.get("spec") or {}).get("suspend"))


def needs_pods(job: Mapping[str, Any]) -> bool:
    """A Job with a pod that is not ready yet, or with none active but one terminating: only then
    are its pods worth reading. A Job whose pod failure policy is set makes no new pod until the
    old one has ended (podReplacementPolicy Failed), so a pod stuck terminating holds it still."""
    status = job.get("status") or {}
    active = int(status.get("active") or 0)
    return not suspended(job) and ((active > 0 and not int(status.get("ready") or 0))
                                   or (not active and int(status.get("terminating") or 0) > 0))


def pods_refused(job: Mapping[str, Any]) -> bool:
    """Started, not suspended, and not one pod yet: the Job controller may be failing to create
    them (a ResourceQuota, an admission webhook). Only then are the Job's Events worth reading;
    it says why in nothing but those Events."""
    status = job.get("status") or {}
    return (not suspended(job) and bool(status.get("startTime"))
            and not any(int(status.get(key) or 0) for key in ("active", "ready", "failed", "succeeded", "terminating")))


def newest_event(events: Sequence[Mapping[str, Any]], reason: str) -> Mapping[str, Any] | None:
    matching = [event for event in events if event.get("reason") == reason]
    return max(matching, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""), default=None)


def creation_waiting(step: str, events: Sequence[Mapping[str, Any]]) -> Waiting | None:
    """The newest FailedCreate Event on the Job: QuotaExceeded when a ResourceQuota refused the pod."""
    refused = newest_event(events, "FailedCreate")
    if refused is None:
        return None
    message = str(refused.get("message") or "pod creation refused")
    return Waiting(step, "QuotaExceeded" if "exceeded quota" in message else "FailedCreate", message)


def job_terminating(step: str, job: Mapping[str, Any]) -> Waiting | None:
    """The step's Job deleted but not gone (None if it is not being deleted): a finalizer holds it
    (foreground deletion waits for its pods, which a lost node never ends). No Job of that name
    can be created before it is gone, so the step waits, and says on what."""
    meta = job.get("metadata") or {}
    since = meta.get("deletionTimestamp")
    if not since:
        return None
    held = ", ".join(str(f) for f in meta.get("finalizers") or []) or "nothing left"
    return Waiting(step, "JobTerminating", f"its Job {meta.get('name', '')} has been deleted since {since} and "
                                           f"is not gone (finalizers: {held}); the step starts afresh once it is")


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


def admission_wait_since(job: Mapping[str, Any]) -> str | None:
    """Since when a suspended Job has waited for Kueue (None if it is not suspended): since its
    Suspended condition turned True (the Job controller sets it on a Job created suspended, and
    again at a preemption), else since it was created."""
    if not suspended(job):
        return None
    conditions = (job.get("status") or {}).get("conditions") or []
    held: Mapping[str, Any] = next((c for c in conditions if c.get("type") == "Suspended" and c.get("status") == "True"), {})
    since = held.get("lastTransitionTime") or (job.get("metadata") or {}).get("creationTimestamp")
    return str(since) if since else None


def mounting(status: Mapping[str, Any]) -> bool:
    """A scheduled pod whose container is not created and that has no sandbox yet: the kubelet
    mounts volumes before it makes the sandbox, and says why a mount fails (a missing
    ConfigMap, Secret or volume) only in FailedMount Events on the pod. A pod pulling its
    image has a sandbox (PodReadyToStartContainers, where the kubelet reports it), so its
    Events are not read."""
    creating = any(((c.get("state") or {}).get("waiting") or {}).get("reason") == "ContainerCreating"
                   for c in status.get("containerStatuses") or [])
    sandbox = any(c.get("type") == "PodReadyToStartContainers" and c.get("status") == "True"
                  for c in status.get("conditions") or [])
    return creating and not sandbox


def terminating(pod: Mapping[str, Any]) -> str | None:
    """Since when ``pod`` has been deleted without ending (None if it is not): the kubelet of a
    lost node never confirms the end, and the pod stays Terminating until someone removes it."""
    since = (pod.get("metadata") or {}).get("deletionTimestamp")
    return str(since) if since and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") else None


def node_lost(pod: Mapping[str, Any]) -> bool:
    """The pod's node stopped reporting: its phase is Unknown (or the node controller marked it
    NodeLost). The Job counts it active, so no new pod starts, and nothing ends it before the
    Job's deadline; the step is not running, which ``job_outcome.outcome`` must know then."""
    status = pod.get("status") or {}
    return status.get("phase") == "Unknown" or status.get("reason") == "NodeLost"


def pod_waiting(step: str, pods: list[Mapping[str, Any]], events: Events) -> Waiting | None:
    """The newest waiting pod's reason: stuck terminating, on a lost node, else (a pending pod) its
    container's (image pull, config), then a failed mount (from the pod's Events, read only while
    it mounts), then the scheduler's."""
    for pod in reversed(pods):
        status = pod.get("status") or {}
        since = terminating(pod)
        if since is not None:
            name = (pod.get("metadata") or {}).get("name", "")
            return Waiting(step, "PodTerminating", f"pod {name} has been terminating since {since} and no new pod "
                                                   "starts before it ends; if its node is gone, delete the pod "
                                                   "(kubectl delete pod --force) or the node")
        if node_lost(pod):
            name = (pod.get("metadata") or {}).get("name", "")
            return Waiting(step, "NodeLost", f"pod {name} is on a node that stopped reporting (phase Unknown); "
                                             "the step goes on once the node returns or the pod is deleted "
                                             "(kubectl delete pod --force), else the Job's deadline ends it")
        if status.get("phase") not in (None, "Pending"):
            continue
        for container in status.get("containerStatuses") or []:
            state = (container.get("state") or {}).get("waiting") or {}
            if state.get("reason") and state["reason"] not in CONTAINER_STARTING:
                return Waiting(step, CONTAINER_WAITING.get(state["reason"], "ContainerWaiting"),
                               f"{state['reason']}: {state.get('message', '')}".strip())
        if mounting(status):
            failed = newest_event(events((pod.get("metadata") or {}).get("name", "")), "FailedMount")
            if failed is not None:
                return Waiting(step, "FailedMount", str(failed.get("message") or "a volume could not be mounted"))
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                message = condition.get("message") or condition.get("reason") or "not scheduled"
                unbound = "unbound" in message and "PersistentVolumeClaim" in message
                return Waiting(step, "WaitingForVolume" if unbound else "Unschedulable", message)
    return None
