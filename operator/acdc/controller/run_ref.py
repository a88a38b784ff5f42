"""Identity of a CoevolutionRun as its children refer to it (owner references)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from acdc.spec import API_GROUP, API_VERSION, KIND


@dataclass(frozen=True)
class RunRef:
    name: str
    namespace: str
    uid: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> RunRef:
        meta = body.get("metadata") or {}
        return cls(name=meta["name"], namespace=meta.get("namespace") or "default", uid=meta.get("uid") or "")

    def owner_reference(self) -> dict[str, Any]:
        """Controller reference: the garbage collector deletes the child with the run."""
        return {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def metadata(self, name: str, labels: Mapping[str, str]) -> dict[str, Any]:
        return {
            "name": name,
            "namespace": self.namespace,
            "labels": dict(labels),
            "ownerReferences": [self.owner_reference()],
        }
