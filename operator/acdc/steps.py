"""The step vocabulary every executor, the metrics and the operator share: a phase, a step
(one phase instance of one generation, named stably so Jobs and records are idempotent) and
the record an executor keeps of a finished step.

A leaf module (it imports nothing of acdc), so the metrics recorder and the controller can
speak of steps without importing the phases that run them; the DAG over these steps is
``acdc.phases.dag``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

StepStatus = Literal["succeeded", "dropped"]


class Phase(StrEnum):
    INIT = "init"
    PLAN = "plan"
    MERGE = "merge"
    EVALUATE = "evaluate"
    SCORE = "score"
    SELECT = "select"
    TASKS = "tasks"
    REEVALUATE = "reevaluate"
    RESCORE = "rescore"
    SYNC = "sync"
    BENCHMARK = "benchmark"

    @property
    def droppable(self) -> bool:
        """Per-model steps: losing one child or one re-evaluation must not fail the run."""
        return self in _PER_MODEL

    @property
    def resource_class(self) -> str:
        """Which spec.resources entry sizes this phase's Job."""
        return _RESOURCE_CLASS[self]


_PER_MODEL = {Phase.MERGE, Phase.EVALUATE, Phase.SCORE, Phase.REEVALUATE, Phase.RESCORE}
_RESOURCE_CLASS = {
    Phase.INIT: "tasks", Phase.TASKS: "tasks",
    Phase.PLAN: "control", Phase.SELECT: "control", Phase.SYNC: "control",
    Phase.MERGE: "merge", Phase.EVALUATE: "evaluate", Phase.REEVALUATE: "evaluate",
    Phase.SCORE: "score", Phase.RESCORE: "score",
    Phase.BENCHMARK: "evaluate",
}


@dataclass(frozen=True, order=True)
class Step:
    """One phase instance; its name is stable, so Jobs and records are idempotent."""

    generation: int
    phase: Phase
    index: int | None = None

    @property
    def name(self) -> str:
        base = f"g{self.generation:04d}-{self.phase.value}"
        return base if self.index is None else f"{base}-{self.index:02d}"

    def argv(self, state_dir: str) -> list[str]:
        """The phase command a Job container runs; the local runner's workers call the same
        ``execute()`` that this command calls, in process."""
        args = ["acdc", "phase", self.phase.value, "--state", state_dir, "--generation", str(self.generation)]
        if self.index is not None:
            args += ["--index", str(self.index)]
        return args

    @classmethod
    def parse(cls, name: str) -> Step:
        parts = name.split("-")
        if len(parts) not in (2, 3) or not parts[0].startswith("g"):
            raise ValueError(f"not a step name: {name!r}")
        index = int(parts[2]) if len(parts) == 3 else None
        return cls(int(parts[0][1:]), Phase(parts[1]), index)


@dataclass(frozen=True)
class StepRecord:
    """What an executor remembers about a finished step; ``result`` is a small JSON dict."""

    status: StepStatus
    result: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "result": dict(self.result)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepRecord:
        return cls(status=data["status"], result=dict(data.get("result") or {}))
