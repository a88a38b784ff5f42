"""The run's PersistentVolumeClaim and the ConfigMap that hands the live spec to Jobs.

The PVC gets no owner reference: whether it outlives the run is the retention policy's
call (``retention.volumeOnDelete``), which may change mid-run, so the operator's
finalizer deletes it explicitly instead of the garbage collector.
"""

from __future__ import annotations

from typing import Any

from acdc.atomic import dump_yaml
from acdc.controller import names
from acdc.controller.run_ref import RunRef
from acdc.controller.server_manifests import in_cluster_spec
from acdc.spec import API_GROUP, API_VERSION, KIND, CoevolutionRunSpec


def claim_name(ref: RunRef, spec: CoevolutionRunSpec) -> str:
    return spec.storage.existing_claim or names.claim(ref.name)


def build_claim(ref: RunRef, spec: CoevolutionRunSpec) -> dict[str, Any]:
    storage = spec.storage
    body: dict[str, Any] = {
        "accessModes": list(storage.access_modes),
        "resources": {"requests": {"storage": storage.size}},
    }
    if storage.storage_class_name:
        body["storageClassName"] = storage.storage_class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": names.claim(ref.name), "namespace": ref.namespace, "labels": names.run_labels(ref.name)},
        "spec": body,
    }


def run_yaml(ref: RunRef, spec: CoevolutionRunSpec) -> str:
    """The run file Jobs read: the live spec with deployed servers replaced by their URLs."""
    document = {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "metadata": {"name": ref.name, "namespace": ref.namespace},
        "spec": in_cluster_spec(ref, spec).model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    return dump_yaml(document)


def build_spec_configmap(ref: RunRef, spec: CoevolutionRunSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": ref.metadata(names.spec_configmap(ref.name), names.run_labels(ref.name)),
        "data": {"run.yaml": run_yaml(ref, spec)},
    }
