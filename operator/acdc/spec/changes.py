"""Which spec edits a running run can take, shared by `acdc run` (resume) and the operator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from acdc.spec.manifest import CoevolutionRun
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


@dataclass(frozen=True)
class RunDifferences:
    """How a given run differs from the one a state folder or volume holds, where it may not."""

    renamed: bool
    """Another metadata.name."""
    changed: list[str]
    """Immutable fields that differ (``immutable_changes``)."""

    def __bool__(self) -> bool:
        return self.renamed or bool(self.changed)


def run_differences(stored: CoevolutionRun, given: CoevolutionRun) -> RunDifferences:
    """What keeps ``given`` from going on with ``stored``'s state: the one predicate `acdc run`
    (resuming a folder) and the init phase (adopting a volume) share, each with its own message."""
    return RunDifferences(stored.metadata.name != given.metadata.name, immutable_changes(stored.spec, given.spec))
