"""The short-lived pod that serves a run's volume read-only to `acdc report/taskforce --run`.

It runs ``acdc serve-results`` in the run's worker image with the run's claim mounted
read-only (the volume can never be changed through it), no service-account token, the
restricted pod security profile, and an ``activeDeadlineSeconds`` so a pod whose client
died stops by itself; the run owns it, so deleting the run deletes it too.
A ReadWriteOnce claim can only be mounted on the node that holds it: the pod then lands
there (the scheduler knows), or waits while another node's pod still uses the volume.
"""

from __future__ import annotations

import secrets
from typing import Any

from acdc.controller import names
from acdc.controller.job_manifest import STATE_MOUNT, WORKER_UID
from acdc.controller.run_ref import RunRef
from acdc.delivery.server import PORT

LABEL_READER = f"{names.GROUP}/reader"
READER_DEADLINE_S = 3600
CONTAINER = "reader"


def reader_name(run: str) -> str:
    return f"{names.short(run, names.MAX_NAME - 13)}-reader-{secrets.token_hex(3)}"


def build_reader_pod(ref: RunRef, claim: str, image: str, pull_policy: str = "IfNotPresent",
                     pull_secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    labels = {**names.run_labels(ref.name), LABEL_READER: "true"}
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "activeDeadlineSeconds": READER_DEADLINE_S,
        "securityContext": {"runAsNonRoot": True, "runAsUser": WORKER_UID, "runAsGroup": WORKER_UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": CONTAINER,
            "image": image,
            "imagePullPolicy": pull_policy,
            "command": ["acdc", "serve-results", STATE_MOUNT, "--port", str(PORT)],
            "ports": [{"name": "http", "containerPort": PORT}],
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": PORT}, "periodSeconds": 2},
            "env": [{"name": "HOME", "value": "/tmp"}, {"name": "MPLCONFIGDIR", "value": "/tmp"}],
            "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                "readOnlyRootFilesystem": True, "runAsNonRoot": True},
            "volumeMounts": [{"name": "state", "mountPath": STATE_MOUNT, "readOnly": True},
                             {"name": "tmp", "mountPath": "/tmp"}],
        }],
        "volumes": [{"name": "state", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}},
                    {"name": "tmp", "emptyDir": {}}],
    }
    if pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": s} for s in pull_secrets]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": ref.metadata(reader_name(ref.name), labels),
            "spec": pod_spec}
