"""Which spec edits a running run can take, shared by `acdc run` (resume) and the operator."""

from __future__ import annotations

from typing import Any

from acdc.spec.run import IMMUTABLE_FIELDS, CoevolutionRunSpec


def _get(spec: CoevolutionRunSpec, dotted: str) -> Any:
    value: Any = spec
    for part in dotted.split("."):
        value = getattr(value, part)
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def immutable_changes(old: CoevolutionRunSpec, new: CoevolutionRunSpec) -> list[str]:
    """Dotted names (camelCase, as users write them) of immutable fields that differ."""
    from pydantic.alias_generators import to_camel

    return [
        ".".join(to_camel(part) for part in field.split("."))
        for field in IMMUTABLE_FIELDS
        if _get(old, field) != _get(new, field)
    ]
