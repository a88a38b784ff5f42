"""What the sandbox reports back: one ScoreResult per scored answer, instances per task."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ResultKind = Literal["ok", "timeout", "memory", "violation", "exception", "bad_return"]

SUCCESS_THRESHOLD = 0.5
"""Reference semantics: a score of at least 0.5 counts as solving the item."""


@dataclass(frozen=True)
class ScoreResult:
    """Outcome of one ``score`` call; ``score`` is None unless ``kind == "ok"``."""

    score: float | None
    error: str | None = None
    kind: ResultKind = "ok"

    @property
    def solved(self) -> bool:
        return self.score is not None and self.score >= SUCCESS_THRESHOLD


@dataclass(frozen=True)
class Instance:
    """One task instance as produced by get_tasks + get_instructions inside the sandbox."""

    id: str
    data: Any
    instructions: str


@dataclass(frozen=True)
class Materialized:
    """Instances of one task, or why it could not produce them."""

    instances: list[Instance] = field(default_factory=list)
    error: str | None = None
    kind: ResultKind = "ok"

    @property
    def ok(self) -> bool:
        return self.kind == "ok" and bool(self.instances)
