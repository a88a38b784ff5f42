"""kopf peering in the chart: the CRDs kopf looks for, the objects it patches, the RBAC it needs."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kopf._cogs.structs import references  # kopf's own names for its peering resources

from acdc.controller import rbac
from tests.chart.rendering import CHART_DIR, NAMESPACE, by_kind, render

KUBE_VERSION = "1.33"
PEERING_CRDS = CHART_DIR / "crds" / "kopf-peerings.yaml"
PEERING_VERBS = {"get", "list", "watch", "patch"}


def peering_crds() -> dict[str, dict[str, Any]]:
    """Kind -> CRD, from the chart's copy."""
    docs = list(yaml.safe_load_all(PEERING_CRDS.read_text(encoding="utf-8")))
    return {doc["spec"]["names"]["kind"]: doc for doc in docs}


def test_peering_crds_are_strictly_valid():
    crds = peering_crds()
    assert sorted(crds) == ["ClusterKopfPeering", "KopfPeering"]
    for crd in crds.values():
        kubernetes_validate.validate(crd, KUBE_VERSION, strict=True)


def test_strict_validation_would_catch_a_typo_in_a_peering_crd():
    crd = copy.deepcopy(peering_crds()["KopfPeering"])
    crd["spec"]["scoped"] = crd["spec"].pop("scope")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(crd, KUBE_VERSION, strict=True)


@pytest.mark.parametrize("kind, selector, scope", [
    ("ClusterKopfPeering", references.CLUSTER_PEERINGS_K, "Cluster"),
    ("KopfPeering", references.NAMESPACED_PEERINGS_K, "Namespaced"),
])
def test_peering_crds_serve_what_kopf_looks_up(kind, selector, scope):
    crd = peering_crds()[kind]
    (version,) = crd["spec"]["versions"]
    assert (crd["spec"]["group"], version["name"]) == (selector.group, selector.version)
    assert crd["spec"]["names"]["plural"] == selector.any_name
    assert crd["metadata"]["name"] == f"{selector.any_name}.{selector.group}"
    assert crd["spec"]["scope"] == scope and version["served"] and version["storage"]
    # kopf writes each replica's keep-alive under status, keyed by its identity.
    assert version["schema"]["openAPIV3Schema"]["properties"]["status"]["x-kubernetes-preserve-unknown-fields"]


@pytest.mark.parametrize("scope, kind", [("cluster", "ClusterKopfPeering"), ("namespaced", "KopfPeering")])
def test_rbac_lets_the_operator_use_its_peering_objects(scope, kind):
    crd = peering_crds()[kind]
    granted = set()
    for rule in rbac.rules(scope):
        if crd["spec"]["group"] in rule["apiGroups"] and crd["spec"]["names"]["plural"] in rule["resources"]:
            granted |= set(rule["verbs"])
    assert granted >= PEERING_VERBS


@pytest.mark.parametrize("values, expected", [
    ({"replicaCount": 2, "clusterWide": True}, [("ClusterKopfPeering", None)]),
    ({"replicaCount": 2}, [("KopfPeering", NAMESPACE)]),
    ({"replicaCount": 2, "watchNamespaces": ["research", "team-b"]},
     [("KopfPeering", "research"), ("KopfPeering", "team-b")]),
    ({"replicaCount": 1}, []),
    ({"replicaCount": 0, "watchNamespaces": ["research"]}, []),
])
def test_peering_objects_exist_only_for_several_replicas(values, expected):
    docs = render(values)
    peerings = by_kind(docs, "ClusterKopfPeering") + by_kind(docs, "KopfPeering")
    assert sorted((doc["kind"], doc["metadata"].get("namespace")) for doc in peerings) == expected
    crds = peering_crds()
    for doc in peerings:
        crd = crds[doc["kind"]]
        assert doc["apiVersion"] == f"{crd['spec']['group']}/{crd['spec']['versions'][0]['name']}"
