"""What deleting a run removes beyond what owner references already cover.

Owner references let the garbage collector remove Jobs, servers, the ConfigMap and the
policy; the operator deletes the Jobs itself too, so their pods stop at once, and
applies the volume retention policy, which the garbage collector cannot know about.
A claim is deleted only if it carries the run's labels: a PVC of the same name that the
operator did not create for this run (``ownership``) is left alone.
"""

from __future__ import annotations

from typing import Any

from acdc.controller import names
from acdc.controller.kube import CLAIMS, JOBS, Kube
from acdc.controller.ownership import carries_run_labels
from acdc.controller.run_ref import RunRef


def cleanup(kube: Kube, body: dict[str, Any]) -> list[str]:
    """Delete the run's Jobs, and its volume when the policy says Delete; returns what went."""
    ref = RunRef.from_body(body)
    spec = body.get("spec") or {}
    removed = [f"job/{name}" for name in kube.delete_collection(JOBS, ref.namespace, names.run_labels(ref.name))]
    storage = spec.get("storage") or {}
    policy = (spec.get("retention") or {}).get("volumeOnDelete", "Retain")
    if policy == "Delete" and not storage.get("existingClaim"):
        claim = kube.get(CLAIMS, ref.namespace, names.claim(ref.name))
        if (claim is not None and carries_run_labels(claim, ref.name)
                and kube.delete(CLAIMS, ref.namespace, names.claim(ref.name), uid=claim["metadata"].get("uid"))):
            removed.append(f"persistentvolumeclaim/{names.claim(ref.name)}")
    return removed
