"""NetworkPolicy for scoring pods: no ingress, no egress but DNS and the judge.

Scoring runs untrusted task code. Even inside gVisor it must not reach the API server,
cloud metadata or the internet; it may only ask the run's deployed judge (and resolve
its name). A judge given by external URL is not reachable from scoring pods by design.
"""

from __future__ import annotations

from typing import Any

from acdc.controller import names
from acdc.controller.run_ref import RunRef
from acdc.controller.server_manifests import PORT, deployed_endpoints
from acdc.spec import CoevolutionRunSpec

DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
CLUSTER_DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
"""The cluster's DNS pods: kube-dns-labelled pods in kube-system only (any namespace would
let a pod anyone labels k8s-app=kube-dns receive the sandbox's queries on port 53)."""


def judge_role(spec: CoevolutionRunSpec) -> str | None:
    """The deployed server that grades answers: the judge's own, else the scientist's."""
    deployed = deployed_endpoints(spec)
    if spec.judge.endpoint is not None:
        return "judge" if "judge" in deployed else None
    return "scientist" if "scientist" in deployed else None


def build_sandbox_policy(ref: RunRef, spec: CoevolutionRunSpec) -> dict[str, Any]:
    egress: list[dict[str, Any]] = [
        {"to": [CLUSTER_DNS], "ports": DNS_PORTS}
    ]
    role = judge_role(spec)
    if role is not None:
        judge_pods = {**names.run_labels(ref.name), names.LABEL_SERVER: role}
        egress.append({"to": [{"podSelector": {"matchLabels": judge_pods}}], "ports": [{"protocol": "TCP", "port": PORT}]})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": ref.metadata(names.sandbox_policy(ref.name), names.run_labels(ref.name)),
        "spec": {
            "podSelector": {"matchLabels": {names.LABEL_RUN: names.run_labels(ref.name)[names.LABEL_RUN],
                                            names.LABEL_SANDBOXED: "true"}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": egress,
        },
    }
