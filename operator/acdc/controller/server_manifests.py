"""vLLM Deployments + Services for the scientist, judge and embedding models a run deploys.

A server is deployed for each endpoint whose spec says ``deploy``. Phase Jobs never see
``deploy``: ``in_cluster_spec`` rewrites those endpoints to the Service URL, so the same
phase code talks to a deployed server and to an external one alike.

The server runs a model (and, through ``extraArgs``, flags) the run's author chose, next
to a GPU: its pod gets the restricted Pod Security profile (non-root, no capabilities,
RuntimeDefault seccomp, read-only root with emptyDirs for the caches vLLM writes), no
service-account token, the run's volume read-only, and a NetworkPolicy that admits only
the run's own pods to its port. ``tenancy`` refuses dangerous ``extraArgs`` before any
of this is applied.
"""

from __future__ import annotations

from typing import Any

from acdc.controller import names
from acdc.controller.run_ref import RunRef
from acdc.spec import CoevolutionRunSpec
from acdc.spec.run import EndpointSpec

PORT = 8000
SERVER_UID = 1000
"""The vLLM image runs as root by default; the restricted profile needs a numeric non-root user."""
CACHE_DIR = "/tmp"
"""HOME and every cache vLLM, Hugging Face, Triton and FlashInfer write (an emptyDir)."""


def deployed_endpoints(spec: CoevolutionRunSpec) -> dict[str, EndpointSpec]:
    """Role -> endpoint, for the endpoints this run must deploy itself."""
    candidates = {"scientist": spec.scientist.endpoint, "judge": spec.judge.endpoint, "embedding": spec.embedding.endpoint}
    return {role: ep for role, ep in candidates.items() if ep is not None and ep.deploy is not None}


def service_url(ref: RunRef, role: str) -> str:
    return f"http://{names.server(ref.name, role)}.{ref.namespace}.svc:{PORT}/v1"


def in_cluster_spec(ref: RunRef, spec: CoevolutionRunSpec) -> CoevolutionRunSpec:
    """``spec`` with every deployed endpoint replaced by the URL of its Service."""
    updates: dict[str, Any] = {}
    for role, endpoint in deployed_endpoints(spec).items():
        resolved = endpoint.model_copy(update={"deploy": None, "url": service_url(ref, role), "model": endpoint.served_model})
        section = getattr(spec, role)
        updates[role] = section.model_copy(update={"endpoint": resolved})
    return spec.model_copy(update=updates)


def _server_labels(ref: RunRef, role: str) -> dict[str, str]:
    return {**names.run_labels(ref.name), names.LABEL_SERVER: role}


def build_deployment(ref: RunRef, spec: CoevolutionRunSpec, role: str, endpoint: EndpointSpec) -> dict[str, Any]:
    deploy = endpoint.deploy
    assert deploy is not None, "only deployed endpoints get a Deployment"
    args = ["--model", deploy.model, "--served-model-name", endpoint.served_model, "--host", "0.0.0.0",
            "--port", str(PORT), "--tensor-parallel-size", str(deploy.tensor_parallel)]
    if deploy.max_model_len:
        args += ["--max-model-len", str(deploy.max_model_len)]
    if role == "embedding":
        args += ["--runner", "pooling"]
    args += list(deploy.extra_args)
    requests: dict[str, str] = {"cpu": deploy.cpu, "memory": deploy.memory}
    limits: dict[str, str] = {"memory": deploy.memory}
    if deploy.gpus:
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(deploy.gpus)
    probe = {"httpGet": {"path": "/v1/models", "port": PORT}, "periodSeconds": 10, "failureThreshold": 3}
    labels = _server_labels(ref, role)
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": SERVER_UID,
            "runAsGroup": SERVER_UID,
            "fsGroup": SERVER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "vllm",
                "image": spec.images.vllm,
                "imagePullPolicy": spec.images.pull_policy,
                "args": args,
                "ports": [{"name": "http", "containerPort": PORT}],
                "resources": {"requests": requests, "limits": limits},
                "readinessProbe": probe,
                "startupProbe": {**probe, "failureThreshold": 180},
                "env": [{"name": "HOME", "value": CACHE_DIR}, {"name": "VLLM_NO_USAGE_STATS", "value": "1"}],
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                    "readOnlyRootFilesystem": True,
                    "runAsNonRoot": True,
                },
                "volumeMounts": [
                    {"name": "state", "mountPath": "/state", "readOnly": True},
                    {"name": "cache", "mountPath": CACHE_DIR},
                    {"name": "shm", "mountPath": "/dev/shm"},
                ],
            }
        ],
        "volumes": [
            {"name": "state", "persistentVolumeClaim": {"claimName": spec.storage.existing_claim or names.claim(ref.name),
                                                        "readOnly": True}},
            {"name": "cache", "emptyDir": {}},
            # Tensor-parallel workers exchange tensors through shared memory (NCCL).
            {"name": "shm", "emptyDir": {"medium": "Memory"}},
        ],
    }
    if spec.images.pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": secret} for secret in spec.images.pull_secrets]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": ref.metadata(names.server(ref.name, role), labels),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def build_service(ref: RunRef, role: str) -> dict[str, Any]:
    labels = _server_labels(ref, role)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": ref.metadata(names.server(ref.name, role), labels),
        "spec": {"selector": labels, "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]},
    }


def build_server_policy(ref: RunRef) -> dict[str, Any]:
    """Ingress to the run's servers only from the run's own pods (Jobs, sandbox, servers)."""
    run = names.run_labels(ref.name)[names.LABEL_RUN]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": ref.metadata(names.server_policy(ref.name), names.run_labels(ref.name)),
        "spec": {
            "podSelector": {"matchLabels": {names.LABEL_RUN: run},
                            "matchExpressions": [{"key": names.LABEL_SERVER, "operator": "Exists"}]},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {names.LABEL_RUN: run}}}],
                         "ports": [{"protocol": "TCP", "port": PORT}]}],
        },
    }
