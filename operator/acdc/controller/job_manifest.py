"""The batch/v1 Job that runs one phase step: a pure function of the spec and the step.

Every Job runs ``acdc phase`` in the worker image with the run's volume at /state and the
live spec at /etc/acdc/run.yaml. Exit code 3 means the step rejected its subject (a
gibberish child), 75 an infrastructure fault (``acdc.phases.faults``): a pod failure policy
fails the Job at once on either instead of retrying it.
Scoring steps execute untrusted task code, so their pods are locked down further
(read-only root, no token, the spec's RuntimeClass, and the sandbox NetworkPolicy).
Endpoint API keys come from the run's Secrets as env vars (``job_env``).
"""

from __future__ import annotations

from typing import Any

from acdc.controller import names
from acdc.controller.job_env import run_env
from acdc.controller.run_ref import RunRef
from acdc.errors import EXIT_INFRASTRUCTURE
from acdc.phases.context import EXIT_REJECTED
from acdc.phases.dag import Phase, Step
from acdc.spec import CoevolutionRunSpec
from acdc.spec.run import PhaseResources

STATE_MOUNT = "/state"
SPEC_DIR = "/etc/acdc"
SPEC_FILE = f"{SPEC_DIR}/run.yaml"
TERMINATION_LOG = "/dev/termination-log"
CONTAINER = "phase"
SANDBOXED_PHASES = frozenset({Phase.SCORE, Phase.RESCORE})
WORKER_UID = 1000


def phase_resources(spec: CoevolutionRunSpec, phase: Phase) -> PhaseResources:
    return getattr(spec.resources, phase.resource_class)


def _container_resources(res: PhaseResources) -> dict[str, Any]:
    requests: dict[str, str] = {"cpu": res.cpu, "memory": res.memory}
    limits: dict[str, str] = {"memory": res.memory}
    if res.gpus:
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(res.gpus)
    return {"requests": requests, "limits": limits}


def _tolerations(res: PhaseResources) -> list[dict[str, Any]]:
    return [t.model_dump(by_alias=True, exclude_none=True) for t in res.tolerations]


def _container_security(sandboxed: bool) -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": sandboxed,
        "runAsNonRoot": True,
    }


def build_job(ref: RunRef, spec: CoevolutionRunSpec, step: Step, claim_name: str) -> dict[str, Any]:
    """The Job manifest for ``step``; its name and labels are stable across restarts."""
    res = phase_resources(spec, step.phase)
    sandboxed = step.phase in SANDBOXED_PHASES
    labels = names.step_labels(ref.name, step)
    if sandboxed:
        labels[names.LABEL_SANDBOXED] = "true"
    job_labels = dict(labels)
    if spec.resources.kueue_queue_name:
        job_labels[names.LABEL_KUEUE_QUEUE] = spec.resources.kueue_queue_name
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": WORKER_UID,
            "runAsGroup": WORKER_UID,
            "fsGroup": WORKER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": CONTAINER,
                "image": spec.images.worker,
                "imagePullPolicy": spec.images.pull_policy,
                "command": [*step.argv(STATE_MOUNT), "--run", SPEC_FILE, "--termination-log", TERMINATION_LOG],
                "terminationMessagePath": TERMINATION_LOG,
                "terminationMessagePolicy": "File",
                "resources": _container_resources(res),
                "securityContext": _container_security(sandboxed),
                "env": [{"name": "HOME", "value": "/tmp"}, {"name": "ACDC_CACHE", "value": f"{STATE_MOUNT}/cache"},
                        *run_env(ref, spec, step.phase)],
                "volumeMounts": [
                    {"name": "state", "mountPath": STATE_MOUNT},
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
    if res.priority_class_name:
        pod_spec["priorityClassName"] = res.priority_class_name
    if spec.images.pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": secret} for secret in spec.images.pull_secrets]
    if sandboxed and spec.sandbox.runtime_class_name:
        pod_spec["runtimeClassName"] = spec.sandbox.runtime_class_name
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": ref.metadata(names.job_name(ref.name, step), job_labels),
        "spec": {
            "backoffLimit": res.backoff_limit,
            "activeDeadlineSeconds": res.active_deadline_seconds,
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "FailJob",
                        "onExitCodes": {"containerName": CONTAINER, "operator": "In",
                                        "values": [EXIT_REJECTED, EXIT_INFRASTRUCTURE]},
                    }
                ]
            },
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
