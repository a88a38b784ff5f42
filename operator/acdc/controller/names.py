"""Names and labels of everything the operator creates for a run.

Names are pure functions of the run name and the step, so a restarted operator finds the
objects its predecessor made (creating one again is a harmless 409) instead of tracking
them in memory. Kubernetes caps label values (and so Job names, which pods carry in the
``job-name`` label) at 63 characters; long run names are shortened with a digest suffix.
"""

from __future__ import annotations

import hashlib

from acdc.spec import API_GROUP
from acdc.steps import Step

GROUP = API_GROUP
LABEL_RUN = f"{GROUP}/run"
LABEL_GENERATION = f"{GROUP}/generation"
LABEL_PHASE = f"{GROUP}/phase"
LABEL_STEP = f"{GROUP}/step"
LABEL_SERVER = f"{GROUP}/server"
LABEL_SANDBOXED = f"{GROUP}/sandboxed"
LABEL_KUEUE_QUEUE = "kueue.x-k8s.io/queue-name"
FINALIZER = f"{GROUP}/cleanup"
RESUME_ANNOTATION = f"{GROUP}/resume"
"""Set to a new value (``kubectl annotate --overwrite``) to resume a failed run: its failed step runs again."""
MANAGED_BY = {"app.kubernetes.io/name": "acdc", "app.kubernetes.io/managed-by": "acdc-operator"}

MAX_NAME = 63
LONGEST_STEP = len("g0000-reevaluate-00")  # generation and index may grow past 4 / 2 digits
SERVER_ROLES = ("scientist", "judge", "embedding")  # the endpoints a run may use (tenancy checks their secrets)


def short(run: str, room: int) -> str:
    """``run`` itself if it fits in ``room`` characters, else a prefix plus a stable digest."""
    if len(run) <= room:
        return run
    digest = hashlib.sha256(run.encode()).hexdigest()[:6]
    return f"{run[: room - 7].rstrip('-')}-{digest}"


def job_name(run: str, step: Step) -> str:
    return f"{short(run, MAX_NAME - LONGEST_STEP - 4)}-{step.name}"


def spec_configmap(run: str) -> str:
    return f"{short(run, MAX_NAME - 5)}-spec"


def claim(run: str) -> str:
    return f"{short(run, MAX_NAME - 6)}-state"


def server(run: str, role: str) -> str:
    return f"{short(run, MAX_NAME - 10)}-{role}"


def sandbox_policy(run: str) -> str:
    return f"{short(run, MAX_NAME - 8)}-sandbox"


def server_policy(run: str) -> str:
    return f"{short(run, MAX_NAME - 8)}-servers"


def run_labels(run: str) -> dict[str, str]:
    return {**MANAGED_BY, LABEL_RUN: short(run, MAX_NAME)}


def generation_labels(run: str, generation: int) -> dict[str, str]:
    """Selects one generation's Jobs and pods: a reconcile reads only the current generation."""
    return {**run_labels(run), LABEL_GENERATION: str(generation)}


def step_labels(run: str, step: Step) -> dict[str, str]:
    return {
        **run_labels(run),
        LABEL_GENERATION: str(step.generation),
        LABEL_PHASE: step.phase.value,
        LABEL_STEP: step.name,
    }
