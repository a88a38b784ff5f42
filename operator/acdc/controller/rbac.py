"""The least privilege the operator needs, as data the Helm chart is generated from.

Namespaced installs (the chart's default: the release's namespace, or ``watchNamespaces``)
get these rules in a Role per watched namespace; cluster-wide installs (``clusterWide``)
get one ClusterRole. kopf itself needs events (to post them), its peering objects (two
replicas must not both act) and, cluster-wide, namespace listing for discovery. Secrets
are only read, as metadata, to see whether one is open to runs (``tenancy``).
"""

from __future__ import annotations

from typing import Any, Literal

from acdc.spec import API_GROUP, PLURAL

Scope = Literal["namespaced", "cluster"]

_ALL_WRITE = ["get", "list", "watch", "create", "update", "patch", "delete"]


def rules(scope: Scope = "namespaced") -> list[dict[str, Any]]:
    """PolicyRules (rbac.authorization.k8s.io/v1) for the operator's Role or ClusterRole."""
    namespaced: list[dict[str, Any]] = [
        {"apiGroups": [API_GROUP], "resources": [PLURAL], "verbs": ["get", "list", "watch", "patch", "update"]},
        {"apiGroups": [API_GROUP], "resources": [f"{PLURAL}/status"], "verbs": ["get", "patch", "update"]},
        # deletecollection: a closed generation's Jobs (and a deleted run's) go in one call
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": [*_ALL_WRITE, "deletecollection"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["persistentvolumeclaims", "configmaps", "services"], "verbs": _ALL_WRITE},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": _ALL_WRITE},
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": _ALL_WRITE},
        {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},  # why a Job has no pod (FailedCreate)
        {"apiGroups": ["kopf.dev"], "resources": ["kopfpeerings"], "verbs": ["get", "list", "watch", "patch"]},
    ]
    if scope == "namespaced":
        return namespaced
    return [
        *namespaced,
        {"apiGroups": ["kopf.dev"], "resources": ["clusterkopfpeerings"], "verbs": ["get", "list", "watch", "patch"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["get", "list", "watch"]},
    ]


def results_reader_rules() -> list[dict[str, Any]]:
    """What a *user* needs for `acdc report --run` / `acdc taskforce --run` (acdc.controller.fetch):
    read the run, start and delete its reader pod, and read through the pod proxy. Creating
    pods is more than reading runs: grant it (the chart's opt-in ``resultsReader`` ClusterRole,
    bound per namespace) to users who may run pods there anyway."""
    return [
        {"apiGroups": [API_GROUP], "resources": [PLURAL], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get", "delete"]},
        {"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get"]},
    ]


def role(name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": namespace}, "rules": rules("namespaced")}


def cluster_role(name: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name}, "rules": rules("cluster")}
