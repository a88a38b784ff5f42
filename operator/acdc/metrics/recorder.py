"""Turn what executors already know (step records, run status) into metric updates.

Executors call these few methods and never touch a prometheus-client object, so the
runner and the operator cannot drift in how they count. Step results are the small dicts
the phase commands return (see ``acdc.phases.dag``); reading them here keeps the
phases free of any metrics code.

Counting is idempotent per step: the operator may see a finished Job again after a
watch restart, and must not count its children or tasks twice. The set of counted step
names lives in memory; after a process restart counters start from zero, which
Prometheus' ``rate``/``increase`` already treat as a counter reset.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from acdc.metrics.families import MetricFamilies
from acdc.spec.status import CoevolutionRunStatus, RunPhase
from acdc.steps import Phase, Step, StepRecord

LLMRole = Literal["scientist", "judge", "embedding"]
SandboxOutcome = Literal["timeout", "violation"]
RUN_PHASES: tuple[RunPhase, ...] = ("Pending", "Running", "Suspended", "Succeeded", "Failed")

_ARCHIVE_KEYS = {"archive": "archive_size", "bestFitness": "best_fitness", "meanFitness": "mean_fitness", "coverage": "coverage"}


class MetricsRecorder:
    """The executors' whole metrics API over one set of families."""

    def __init__(self, families: MetricFamilies, clock: Callable[[], float] = time.time) -> None:
        self.families = families
        self._clock = clock
        self._counted: set[tuple[str, str, str]] = set()
        self._generation: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def _set_generation(self, namespace: str, run: str, generation: int) -> None:
        """Stamp progress only when the generation moves, which is what the stall alert watches.

        After an exporter restart the first value seen counts as progress: the alert then
        fires late rather than falsely.
        """
        with self._lock:
            advanced = self._generation.get((namespace, run)) != generation
            self._generation[(namespace, run)] = generation
        self.families.generation.labels(namespace, run).set(generation)
        if advanced:
            self.families.progress_time.labels(namespace, run).set(self._clock())

    def record_step(
        self, namespace: str, run: str, step: Step, record: StepRecord, seconds: float | None = None
    ) -> bool:
        """Count one finished step; returns False (and changes nothing) if it was counted before.

        ``seconds`` defaults to the result's own ``seconds`` (the phase's wall time);
        the operator passes the Job's start-to-completion time instead.
        """
        key = (namespace, run, step.name)
        with self._lock:
            if key in self._counted:
                return False
            self._counted.add(key)
        f, labels, result = self.families, (namespace, run), record.result
        phase = step.phase.value
        f.steps.labels(*labels, phase, record.status).inc()
        # A step of generation g means the run is working on g; never step backwards.
        self._set_generation(namespace, run, max(step.generation, self._generation.get(labels, 0)))
        elapsed = seconds if seconds is not None else result.get("seconds")
        if elapsed is not None:
            f.step_seconds.labels(*labels, phase).observe(float(elapsed))
        if step.phase is Phase.MERGE:
            f.children.labels(*labels, _child_outcome(record)).inc()
        if step.phase in (Phase.SCORE, Phase.RESCORE):
            self.observe_sandbox(namespace, run, "timeout", int(result.get("timeouts", 0)))
            self.observe_sandbox(namespace, run, "violation", int(result.get("violations", 0)))
        if step.phase is Phase.TASKS and record.status == "succeeded":
            f.tasks_added.labels(*labels).inc(int(result.get("added", 0)))
            f.tasks_retired.labels(*labels).inc(int(result.get("retired", 0)))
            f.tasks_rejected_novelty.labels(*labels).inc(int(result.get("rejectedNovelty", 0)))
        if step.phase in (Phase.SELECT, Phase.SYNC, Phase.TASKS) and record.status == "succeeded":
            self._set_archive(namespace, run, result)
        return True

    def _set_archive(self, namespace: str, run: str, summary: Mapping[str, Any]) -> None:
        for key, attr in _ARCHIVE_KEYS.items():
            if summary.get(key) is not None:
                getattr(self.families, attr).labels(namespace, run).set(float(summary[key]))
        if summary.get("pool") is not None:
            self.families.task_pool_size.labels(namespace, run).set(float(summary["pool"]))

    def set_run_status(self, namespace: str, run: str, status: CoevolutionRunStatus | Mapping[str, Any]) -> None:
        """Mirror the CR status (or the runner's equivalent) into gauges; safe to call every reconcile."""
        if not isinstance(status, CoevolutionRunStatus):
            status = CoevolutionRunStatus.model_validate(dict(status))
        f = self.families
        self._set_generation(namespace, run, status.generation)
        for phase in RUN_PHASES:
            f.run_phase.labels(namespace, run, phase).set(1 if status.phase == phase else 0)
        archive = status.archive
        self._set_archive(
            namespace,
            run,
            {"archive": archive.size, "bestFitness": archive.best_fitness, "meanFitness": archive.mean_fitness,
             "coverage": archive.coverage, "pool": status.task_pool_size},
        )
        evaluation = status.evaluation
        if evaluation is not None and evaluation.shards_total is not None:
            self.set_evaluation_shards(namespace, run, evaluation.shards_done,
                                       evaluation.shards_total - evaluation.shards_done)
        if evaluation is not None and evaluation.benchmark and evaluation.size is not None:
            for selection in ("taskforce", "seeds", "best"):
                value = getattr(evaluation, selection)
                if value is not None:
                    f.benchmark_coverage.labels(namespace, run, evaluation.benchmark, selection,
                                                str(evaluation.size)).set(float(value))

    def set_evaluation(self, namespace: str, run: str, results: Mapping[str, Any]) -> None:
        """Mirror an evaluation summary (``acdc evaluate``'s results.json) into the benchmark gauges."""
        f = self.families
        for benchmark, bench in results.get("benchmarks", {}).items():
            for selection, curve in bench.get("coverage", {}).items():
                for size, value in curve.items():
                    f.benchmark_coverage.labels(namespace, run, benchmark, selection, str(size)).set(float(value))
            for row in bench.get("bestOfN", []):
                f.benchmark_best_of_n.labels(namespace, run, benchmark, row["method"], str(row["size"])).set(
                    float(row["accuracy"]))
        points = results.get("diversity") or []
        if points:
            f.task_pool_vendi.labels(namespace, run, "local").set(float(points[-1]["local"]))
            f.task_pool_vendi.labels(namespace, run, "cumulative").set(float(points[-1]["cumulative"]))

    def set_evaluation_shards(self, namespace: str, run: str, done: int, pending: int) -> None:
        self.families.evaluation_shards.labels(namespace, run, "done").set(done)
        self.families.evaluation_shards.labels(namespace, run, "pending").set(pending)

    def set_steps_in_flight(self, namespace: str, run: str, running: list[Step]) -> None:
        """Replace the in-flight counts with ``running`` (all phases reset, so finished ones drop to 0)."""
        counts = {phase: 0 for phase in Phase}
        for step in running:
            counts[step.phase] += 1
        for phase, count in counts.items():
            self.families.steps_in_flight.labels(namespace, run, phase.value, phase.resource_class).set(count)

    def observe_step_failure(self, namespace: str, run: str, phase: Phase, retried: bool) -> None:
        """One failed attempt of a step (a failed Job or a crashed subprocess)."""
        self.families.step_failures.labels(namespace, run, phase.value).inc()
        if retried:
            self.families.step_retries.labels(namespace, run, phase.value).inc()

    def observe_llm_request(self, namespace: str, run: str, role: LLMRole, seconds: float, ok: bool) -> None:
        self.families.llm_seconds.labels(namespace, run, role).observe(seconds)
        self.families.llm_requests.labels(namespace, run, role, "ok" if ok else "error").inc()

    def observe_sandbox(self, namespace: str, run: str, outcome: SandboxOutcome, count: int = 1) -> None:
        """Sandbox timeouts / violations; ``record_step`` already counts those a score step reports."""
        counter = self.families.sandbox_events.labels(namespace, run, outcome)
        if count:
            counter.inc(count)

    def reconcile_error(self, kind: str) -> None:
        """An operator handler raised; ``kind`` is a short stable word (e.g. the exception class)."""
        self.families.reconcile_errors.labels(kind).inc()

    def forget_run(self, namespace: str, run: str) -> None:
        """Drop every series of a deleted run, so a long-lived operator does not leak label sets."""
        for family in self.families.per_run():
            for labels in list(family._metrics):  # prometheus-client has no public "children" listing
                if labels[:2] == (namespace, run):
                    family.remove(*labels)
        with self._lock:
            self._counted = {key for key in self._counted if key[:2] != (namespace, run)}
            self._generation.pop((namespace, run), None)


def _child_outcome(record: StepRecord) -> str:
    if record.result.get("rejected"):
        return "rejected"
    return "merged" if record.status == "succeeded" else "failed"
