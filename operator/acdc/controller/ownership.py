"""Which existing objects the operator may change or delete for a run.

Names are deterministic (``names``), so a run called ``web`` wants a ConfigMap
``web-spec`` and Deployments ``web-judge``...; somebody else's object may already carry
that name. The operator acts on an existing object only when it belongs to the run:
its controller reference names the run's uid, or, for objects the run deliberately
leaves without an owner reference (the state PVC, which outlives the run under
``Retain``), it carries the operator's labels for that run. Anything else is refused
rather than merge-patched or deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from acdc.controller import names


class NotOwned(Exception):
    """An object of the name the run needs exists and is not the run's."""

    reason = "ObjectNotOwned"

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} {name!r} already exists and does not belong to this run "
                         f"(no owner reference to it, no {names.LABEL_RUN} label for it): "
                         f"rename the run or remove that object")
        self.kind = kind
        self.name = name


def _controller_uid(meta: Mapping[str, Any]) -> str | None:
    refs: list[Mapping[str, Any]] = meta.get("ownerReferences") or []
    for ref in refs:
        if ref.get("controller"):
            uid: str | None = ref.get("uid")
            return uid
    return None


def _has_labels(obj: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    present = (obj.get("metadata") or {}).get("labels") or {}
    return all(present.get(key) == value for key, value in labels.items())


def carries_run_labels(obj: Mapping[str, Any], run: str) -> bool:
    """The operator's own labels for ``run`` (what cleanup and adoption go by without an owner)."""
    return _has_labels(obj, names.run_labels(run))


def owns(wanted: Mapping[str, Any], existing: Mapping[str, Any]) -> bool:
    """Whether ``existing`` is the run's own version of the object ``wanted`` describes.

    A controller reference decides when the existing object has one (another run's or
    another controller's object is never ours, whatever its labels); without one, the
    run's labels do. ``wanted`` names the run by its owner reference and run label.
    """
    wanted_meta = wanted.get("metadata") or {}
    existing_meta = existing.get("metadata") or {}
    controller = _controller_uid(existing_meta)
    if controller is not None:
        return controller == _controller_uid(wanted_meta)
    run_label = (wanted_meta.get("labels") or {}).get(names.LABEL_RUN)
    return run_label is not None and _has_labels(existing, {**names.MANAGED_BY, names.LABEL_RUN: run_label})


def controlled_by(obj: Mapping[str, Any], uid: str) -> bool:
    """Whether ``obj``'s controller reference names the run of ``uid``: a Job left by an
    earlier run of the same name (deleted, its garbage not yet collected) is not this run's."""
    return _controller_uid(obj.get("metadata") or {}) == uid


def live_and_controlled_by(objects: Iterable[dict[str, Any]], uid: str) -> list[dict[str, Any]]:
    """The ``objects`` (listed by the run's labels) that are the run of ``uid``'s own and not
    being deleted. Labels are no proof: an earlier run's Job or somebody's stray one may carry
    the run's labels and name, and read as the run's it would stand for a step or a stage part
    that never ran; one being deleted (by a resume) is on its way out, to be created again."""
    return [obj for obj in objects
            if controlled_by(obj, uid) and not (obj.get("metadata") or {}).get("deletionTimestamp")]
