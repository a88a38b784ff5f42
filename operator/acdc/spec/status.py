"""CoevolutionRun.status: small summaries only; the run's real state lives on its volume."""

from __future__ import annotations

from typing import Literal

from acdc.spec.base import SpecModel

RunPhase = Literal["Pending", "Running", "Suspended", "Succeeded", "Failed"]
ConditionType = Literal["Ready", "Progressing", "Degraded", "Suspended", "Failed"]


class Condition(SpecModel):
    """A Kubernetes-style condition (type, status, reason, message, lastTransitionTime)."""

    type: ConditionType
    status: Literal["True", "False", "Unknown"]
    reason: str = ""
    message: str = ""
    last_transition_time: str | None = None


class ArchiveSummary(SpecModel):
    size: int = 0
    best_fitness: float | None = None
    mean_fitness: float | None = None
    coverage: float | None = None
    """Share of active tasks solved by at least one archive model."""


class CoevolutionRunStatus(SpecModel):
    phase: RunPhase = "Pending"
    generation: int = 0
    step: str | None = None
    """The phase step in progress, e.g. g0003-merge-02."""
    observed_generation: int | None = None
    conditions: list[Condition] = []
    archive: ArchiveSummary = ArchiveSummary()
    task_pool_size: int = 0
    last_error: str | None = None
    start_time: str | None = None
    completion_time: str | None = None
