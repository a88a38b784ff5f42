"""The batch/v1 Job that runs one phase step: a pure function of the spec and the step.

Every Job runs ``acdc phase`` in the worker image with the run's volume at /state and the
live spec at /etc/acdc/run.yaml. Exit code 3 means the step rejected its subject (a
gibberish child), 75 an infrastructure fault (``acdc.phases.faults``): a pod failure policy
fails the Job at once on either instead of retrying it, and ignores a pod that an eviction,
preemption or drain ended (``job_outcome``).
Steps that run LLM-written task code (tasks: validation; evaluate: materialisation; score)
are locked down further: read-only root, the spec's RuntimeClass and pod security profiles
(bubblewrap inside needs user namespaces, see docs/tasks.md), and, where the step needs
no endpoint but the judge, the sandbox NetworkPolicy. Score steps see the task folders
through a read-only mount. Endpoint API keys come from the run's Secrets as env vars
(``job_env``), only where the phase calls that endpoint; task code never sees them (its
sandbox has an empty environment and its own PID namespace).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from acdc.controller import names
from acdc.controller.job_env import run_env, thread_vars
from acdc.controller.run_ref import RunRef
from acdc.errors import EXIT_INFRASTRUCTURE
from acdc.phases.context import EXIT_REJECTED
from acdc.spec import CoevolutionRunSpec
from acdc.spec.run import PhaseResources
from acdc.steps import Phase, Step

STATE_MOUNT = "/state"
SPEC_DIR = "/etc/acdc"
SPEC_FILE = f"{SPEC_DIR}/run.yaml"
TERMINATION_LOG = "/dev/termination-log"
CONTAINER = "phase"
TASK_CODE_PHASES = frozenset({Phase.TASKS, Phase.EVALUATE, Phase.REEVALUATE, Phase.SCORE, Phase.RESCORE})
# Under the sandbox NetworkPolicy (DNS and the judge only): tasks pods must reach the scientist.
SANDBOXED_PHASES = frozenset({Phase.EVALUATE, Phase.REEVALUATE, Phase.SCORE, Phase.RESCORE})
# Only read the task folders (evaluate writes their instances.json caches, tasks writes new ones).
READONLY_TASKS_PHASES = frozenset({Phase.SCORE, Phase.RESCORE})
TASKS_SUBPATH = "tasks"
READS_RECORDS = frozenset({Phase.SELECT, Phase.SYNC, Phase.TASKS, Phase.REEVALUATE, Phase.RESCORE})
"""Phases that read the outputs of their generation's per-model steps (``phases.records``): their
Jobs are told which of those steps the operator gave up or skipped (``acdc phase --given-up``),
since those records live in the run's status, not on the volume; a step without outputs that is
not named lost them, and the Job fails instead of leaving its model out."""
WORKER_UID = 1000


def phase_resources(spec: CoevolutionRunSpec, phase: Phase) -> PhaseResources:
    resources: PhaseResources = getattr(spec.resources, phase.resource_class)
    return resources


def _container_resources(res: PhaseResources) -> dict[str, Any]:
    requests: dict[str, str] = {"cpu": res.cpu, "memory": res.memory}
    limits: dict[str, str] = {"memory": res.memory}
    if res.gpus:
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(res.gpus)
    return {"requests": requests, "limits": limits}


def _tolerations(res: PhaseResources) -> list[dict[str, Any]]:
    return [t.model_dump(by_alias=True, exclude_none=True) for t in res.tolerations]


def _container_security(runs_task_code: bool) -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": runs_task_code,
        "runAsNonRoot": True,
    }


def _pod_security(spec: CoevolutionRunSpec, runs_task_code: bool) -> dict[str, Any]:
    seccomp: dict[str, Any] = {"type": "RuntimeDefault"}
    context: dict[str, Any] = {"runAsNonRoot": True, "runAsUser": WORKER_UID, "runAsGroup": WORKER_UID,
                               "fsGroup": WORKER_UID, "seccompProfile": seccomp}
    if runs_task_code and spec.sandbox.seccomp_profile:
        seccomp.update(type="Localhost", localhostProfile=spec.sandbox.seccomp_profile)
    if runs_task_code and spec.sandbox.app_armor_profile:
        context["appArmorProfile"] = {"type": "Localhost", "localhostProfile": spec.sandbox.app_armor_profile}
    return context


def _state_mounts(phase: Phase) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [{"name": "state", "mountPath": STATE_MOUNT}]
    if phase in READONLY_TASKS_PHASES:
        mounts.append({"name": "state", "mountPath": f"{STATE_MOUNT}/{TASKS_SUBPATH}", "subPath": TASKS_SUBPATH,
                       "readOnly": True})
    return mounts


def build_job(ref: RunRef, spec: CoevolutionRunSpec, step: Step, claim_name: str,
              given_up: Iterable[str] = ()) -> dict[str, Any]:
    """The Job manifest for ``step``; its name and labels are stable across restarts. ``given_up``:
    the generation's steps the operator recorded without success (``READS_RECORDS``)."""
    res = phase_resources(spec, step.phase)
    policy = spec.phases.resolve(step.phase.value, res)
    sandboxed = step.phase in SANDBOXED_PHASES
    runs_task_code = step.phase in TASK_CODE_PHASES
    labels = names.step_labels(ref.name, step)
    command = [*step.argv(STATE_MOUNT), "--run", SPEC_FILE, "--termination-log", TERMINATION_LOG]
    if step.phase in READS_RECORDS:
        command += [arg for name in sorted(given_up) for arg in ("--given-up", name)]
    if sandboxed:
        labels[names.LABEL_SANDBOXED] = "true"
    job_labels = dict(labels)
    if spec.resources.kueue_queue_name:
        job_labels[names.LABEL_KUEUE_QUEUE] = spec.resources.kueue_queue_name
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": _pod_security(spec, runs_task_code),
        "containers": [
            {
                "name": CONTAINER,
                "image": spec.images.worker,
                "imagePullPolicy": spec.images.pull_policy,
                "command": command,
                "terminationMessagePath": TERMINATION_LOG,
                "terminationMessagePolicy": "File",
                "resources": _container_resources(res),
                "securityContext": _container_security(runs_task_code),
                "env": [{"name": "HOME", "value": "/tmp"}, {"name": "ACDC_CACHE", "value": f"{STATE_MOUNT}/cache"},
                        *run_env(ref, spec, step.phase), *thread_vars(res.cpu)],
                "volumeMounts": [
                    *_state_mounts(step.phase),
                    {"name": "spec", "mountPath": SPEC_DIR, "readOnly": True},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            }
        ],
        "volumes": [
            {"name": "state", "persistentVolumeClaim": {"claimName": claim_name}},
            {"name": "spec", "configMap": {"name": names.spec_configmap(ref.name)}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    if res.node_selector:
        pod_spec["nodeSelector"] = dict(res.node_selector)
    if res.tolerations:
        pod_spec["tolerations"] = _tolerations(res)
    if policy.priority_class_name:
        pod_spec["priorityClassName"] = policy.priority_class_name
    if spec.images.pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": secret} for secret in spec.images.pull_secrets]
    if runs_task_code and spec.sandbox.runtime_class_name:
        pod_spec["runtimeClassName"] = spec.sandbox.runtime_class_name
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": ref.metadata(names.job_name(ref.name, step), job_labels),
        "spec": {
            # Kueue's contract: a queued Job is created suspended and Kueue unsuspends it on admission.
            "suspend": bool(spec.resources.kueue_queue_name),
            "backoffLimit": policy.backoff_limit,
            "ttlSecondsAfterFinished": spec.job_history.ttl_seconds_after_finished,
            "activeDeadlineSeconds": policy.active_deadline_seconds,
            "podFailurePolicy": {
                "rules": [
                    # First: a pod evicted, preempted or drained failed by no fault of the step, whatever
                    # its phase exited with as it was stopped (75 for a lost worker); it is re-created
                    # and costs no retry (the Job controller's rule for the DisruptionTarget condition).
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                    {
                        "action": "FailJob",
                        "onExitCodes": {"containerName": CONTAINER, "operator": "In",
                                        "values": [EXIT_REJECTED, EXIT_INFRASTRUCTURE]},
                    },
                ]
            },
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
