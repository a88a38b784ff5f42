"""Building the run's status as a merge patch that changes only what changed.

kopf and the API server would both accept a whole status; sending only the difference
keeps the request count (and the watch traffic every replica sees) small, and lets the
operator skip the PATCH entirely when a reconcile found nothing new.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any


def now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch turning ``old`` into ``new`` (removed keys become null)."""
    patch: dict[str, Any] = {}
    for key in old:
        if key not in new:
            patch[key] = None
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            nested = merge_diff(before, value)
            if nested:
                patch[key] = nested
        elif value != before:
            patch[key] = value
    return patch


def set_condition(conditions: list[dict[str, Any]], type_: str, status: str, reason: str, message: str) -> list[dict[str, Any]]:
    """Conditions with ``type_`` set; the transition time moves only when the status flips."""
    out = []
    found = False
    for condition in conditions:
        if condition.get("type") == type_:
            found = True
            moved = condition.get("status") != status
            condition = {**condition, "status": status, "reason": reason, "message": message,
                         "lastTransitionTime": now() if moved else condition.get("lastTransitionTime") or now()}
        out.append(condition)
    if not found:
        out.append({"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": now()})
    return out
