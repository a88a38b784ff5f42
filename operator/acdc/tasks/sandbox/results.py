"""What the sandbox reports back: one ScoreResult per scored answer, instances per task."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from acdc.engine.solved import SOLVED_THRESHOLD

ResultKind = Literal["ok", "timeout", "memory", "violation", "exception", "bad_return"]


@dataclass(frozen=True)
class ScoreResult:
    """Outcome of one ``score`` call; ``score`` is None unless ``kind == "ok"``."""

    score: float | None
    error: str | None = None
    kind: ResultKind = "ok"

    @property
    def solved(self) -> bool:
        return self.score is not None and self.score >= SOLVED_THRESHOLD  # the reference's per-item cut


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
