"""CoevolutionRun.status: small summaries only; the run's real state lives on its volume."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from acdc.spec.base import SpecModel

RunPhase = Literal["Pending", "Running", "Suspended", "Succeeded", "Failed"]
ConditionType = Literal["Ready", "Progressing", "Degraded", "Suspended", "Failed", "Waiting", "Admitted"]
"""Admitted: False while the run is refused for crossing a tenant boundary (controller.tenancy)."""


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


class EvaluationSummary(SpecModel):
    """Benchmark evaluation after the run (spec.evaluation): progress, then the headline coverage@N."""

    phase: Literal["Running", "Succeeded", "Failed"] = "Running"
    message: str | None = None
    shards_total: int | None = None
    shards_done: int = 0
    benchmark: str | None = None
    size: int | None = None
    taskforce: float | None = None
    """Coverage@N of the run's task force on the first benchmark (N = size)."""
    seeds: float | None = None
    best: float | None = None
    exported: str | None = None
    """The commit URL of the task force's export (spec.evaluation.export), once uploaded."""
    failed_part: str | None = None
    """The part (plan, a shard's index, summary...) whose Job failed the stage or reported
    nothing readable: what a resume (the ``acdc.dev/resume`` annotation) runs again."""


class StepProgress(SpecModel):
    """A finished step of the current generation, as the operator recorded it."""

    status: Literal["succeeded", "dropped"]
    result: dict[str, Any] = Field(default={}, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})
    """The phase's small result (its termination message), e.g. archive size after tasks."""


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
    progress: dict[str, StepProgress] = {}
    """Finished steps of the current generation, keyed by step name; cleared when it completes.
    This is the operator's only memory of a generation in flight (with the Jobs themselves)."""
    immutable_digests: dict[str, str] = {}
    """Digest of each spec field that cannot change mid-run, taken when the run started."""
    infra_digest: str | None = None
    """Digest of the volume, spec ConfigMap, servers and policy last applied (skips re-applying)."""
    infra_checked_at: str | None = None
    """When the infrastructure was last re-applied whatever its digest (something deleted by hand comes back)."""
    resumed: str | None = None
    """The value of the ``acdc.dev/resume`` annotation last acted on: a new value resumes a failed run."""
    gpu_hours: float = 0.0
    """Requested GPUs times run time of every finished step's Job (for spec.budget): recorded
    ones, and failed ones that a resume runs again."""
    failed_jobs_counted: list[str] = []
    """The uids of the failed Jobs whose GPU-hours ``gpuHours`` holds, until a resume deletes
    them: so neither a later pass nor an operator restart counts them twice."""
    waiting_steps: list[str] = []
    """Steps whose Job the last pass found waiting for a pod to run (the ``Waiting`` condition names
    the first five): the witness, once a Job's deadline took its pod, that it was not running."""
    best_coverage: float | None = None
    coverage_stale_generations: int = 0
    """Generations closed since the archive's coverage last improved (for spec.budget)."""
    jobs_deleted_through: int = -1
    """Jobs of generations up to this one are deleted (failed ones kept per spec.jobHistory)."""
    evaluation: EvaluationSummary | None = None
    """Set once benchmark evaluation (spec.evaluation) has results."""
