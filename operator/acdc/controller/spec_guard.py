"""Spec fields a run cannot change mid-run: remember a digest of each, report edits.

The digests live in status (not in operator memory), so a restarted operator still
refuses an edit made while it was down.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from acdc.spec import IMMUTABLE_FIELDS, CoevolutionRunSpec


def _field(dumped: Mapping[str, Any], dotted: str) -> Any:
    value: Any = dumped
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def digests(spec: CoevolutionRunSpec) -> dict[str, str]:
    dumped = spec.model_dump(mode="json")
    return {
        name: hashlib.sha256(json.dumps(_field(dumped, name), sort_keys=True).encode()).hexdigest()[:16]
        for name in IMMUTABLE_FIELDS
    }


def changed_fields(recorded: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """Immutable fields whose digest (``current``, from ``digests``) differs from when the run
    started (none before it started)."""
    return [name for name, digest in current.items() if name in recorded and recorded[name] != digest]
