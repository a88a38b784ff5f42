"""The generation DAG: which phase steps exist, in what order, and when a run is done.

This one pure module is shared by both executors, the local runner (long-lived worker
processes calling ``acdc.phases.execute.execute``) and the Kubernetes operator (Jobs
running ``Step.argv``), so they cannot disagree about what a generation is.
An executor keeps a record of finished steps (the runner in the state folder's steps/,
the operator in the run's status) and asks ``ready()`` what may start now.

A generation g is:

    g == 0:  init -> tasks(initial pool) ---------------------------+
              \\-> plan -> merge[j] (children only) -> evaluate[j] -> score[j] -> select
    g >= 1:  plan -> merge[j] -> evaluate[j] -> score[j] -> select
             and, every ``adaptation_interval`` generations, after select:
             tasks -> reevaluate[k] -> rescore[k] (each archive member on the new tasks) -> sync
             and, every ``benchmark_interval`` generations, after select (or sync):
             benchmark (lm-eval over the committed archive: one point of the coverage-vs-generation curve)

Indices j run over the models evaluated this generation (at g == 0 the seed models come
first and need no merge); k runs over archive members. A child step may be *dropped*
(failed after its retries): its dependants are skipped and selection goes on without it.
Any other step failing fails the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from acdc.errors import UsageError
from acdc.steps import Phase, Step, StepRecord

if TYPE_CHECKING:  # the DAG stays a pure module: pydantic is loaded by whoever holds a spec
    from acdc.spec import CoevolutionRunSpec


@dataclass(frozen=True)
class DagShape:
    """The few spec numbers that decide a generation's shape."""

    seeds: int
    seeds_in_archive: bool
    initial_size: int
    children_per_generation: int
    adaptation_interval: int
    generations: int | None
    benchmark_interval: int = 0

    @classmethod
    def from_spec(cls, spec: CoevolutionRunSpec) -> DagShape:
        return cls(
            seeds=len(spec.models.seeds) + spec.models.base_is_candidate,
            seeds_in_archive=spec.population.seeds_in_archive,
            initial_size=spec.population.initial_size,
            children_per_generation=spec.population.children_per_generation,
            adaptation_interval=spec.tasks.adaptation_interval,
            generations=spec.population.generations,
            benchmark_interval=spec.evaluation.every_generations,
        )

    def seed_slots(self, generation: int) -> int:
        """Models evaluated at this generation that need no merge (the starting models, at g == 0)."""
        return self.seeds if generation == 0 and self.seeds_in_archive else 0

    def children(self, generation: int) -> int:
        if generation == 0:
            return max(self.initial_size - self.seed_slots(0), 0)
        return self.children_per_generation

    def adapts(self, generation: int) -> bool:
        return generation > 0 and self.adaptation_interval > 0 and generation % self.adaptation_interval == 0

    def benchmarks(self, generation: int) -> bool:
        """Whether this generation ends with a benchmark step (after its commit)."""
        return generation > 0 and self.benchmark_interval > 0 and generation % self.benchmark_interval == 0

    def is_last(self, generation: int) -> bool:
        return self.generations is not None and generation >= self.generations


Done = Mapping[str, StepRecord]


def _ok(done: Done, step: Step) -> bool:
    record = done.get(step.name)
    return record is not None and record.status == "succeeded"


def _finished(done: Done, step: Step) -> bool:
    return step.name in done


def steps_of(shape: DagShape, generation: int, done: Done) -> list[tuple[Step, list[Step]]]:
    """Every step of the generation known so far, each with the steps it waits for.

    Re-evaluation steps appear only once ``tasks`` has finished, because their count is
    the archive size that ``tasks`` reports (``result["archive"]``); likewise a generation's
    children are counted by its plan (``result["children"]``) once that has run.
    """
    g = generation
    out: list[tuple[Step, list[Step]]] = []
    plan = Step(g, Phase.PLAN)
    select = Step(g, Phase.SELECT)
    pool_ready: list[Step] = []
    if g == 0:
        init = Step(0, Phase.INIT)
        initial_tasks = Step(0, Phase.TASKS)
        out += [(init, []), (initial_tasks, [init]), (plan, [init])]
        pool_ready = [initial_tasks]
    else:
        out.append((plan, []))
    seeds = shape.seed_slots(g)
    # Once the plan is written, its children are the generation's: a spec edited between a
    # kill and the resume must not leave planned children unmerged (or ask for unplanned ones).
    planned = done[plan.name].result.get("children") if _ok(done, plan) else None
    children = int(planned) if isinstance(planned, int) else shape.children(g)
    scores = []
    for j in range(seeds + children):
        evaluate, score = Step(g, Phase.EVALUATE, j), Step(g, Phase.SCORE, j)
        if j < seeds:
            out.append((evaluate, [plan, *pool_ready]))
        else:
            merge = Step(g, Phase.MERGE, j)
            out += [(merge, [plan]), (evaluate, [merge, *pool_ready])]
        out.append((score, [evaluate]))
        scores.append(score)
    out.append((select, scores))
    if shape.adapts(g):
        tasks, sync = Step(g, Phase.TASKS), Step(g, Phase.SYNC)
        out.append((tasks, [select]))
        rescores = []
        if _ok(done, tasks):
            for k in range(int(done[tasks.name].result.get("archive", 0))):
                reevaluate, rescore = Step(g, Phase.REEVALUATE, k), Step(g, Phase.RESCORE, k)
                out += [(reevaluate, [tasks]), (rescore, [reevaluate])]
                rescores.append(rescore)
        out.append((sync, [tasks, *rescores]))
    if shape.benchmarks(g):
        out.append((Step(g, Phase.BENCHMARK), [committing_step(shape, g)]))
    return out


def require_step_of_run(shape: DagShape, step: Step, done: Done) -> None:
    """`acdc phase` runs what a person or a Job names: a step the run's DAG does not have
    (an index past the generation's models, init after generation 0, a generation past the
    last) would write a record no executor expects. Re-evaluations exist once ``tasks`` ran."""
    if step.index is None and step.phase.droppable:
        return  # a per-model phase asks for its --index itself (PhaseContext.index)
    if shape.generations is not None and step.generation > shape.generations:
        raise UsageError(f"{step.name}: the run has generations 0 to {shape.generations}")
    known = [s.name for s, _ in steps_of(shape, step.generation, done)]
    if step.name not in known:
        raise UsageError(f"{step.name} is not a step of generation {step.generation} of this run")


def committing_step(shape: DagShape, generation: int) -> Step:
    """The step that commits the generation's archive: sync when it adapts, else select."""
    return Step(generation, Phase.SYNC if shape.adapts(generation) else Phase.SELECT)


def ready(shape: DagShape, generation: int, done: Done) -> list[Step]:
    """Steps that may start now: not finished, and every dependency finished.

    A dependency that was dropped makes its dependant dropped too (the executor records
    it via ``skipped``), so the caller never launches work on a missing model.
    """
    return [step for step, needs in _unblocked(shape, generation, done) if not _lost_input(step, needs, done)]


def skipped(shape: DagShape, generation: int, done: Done) -> list[Step]:
    """Per-model steps whose per-model input was dropped, transitively (a dropped merge takes
    its evaluate and its score with it): the executor records them all dropped at once."""
    view = dict(done)
    lost: list[Step] = []
    while batch := [s for s, needs in _unblocked(shape, generation, view) if _lost_input(s, needs, view)]:
        for step in batch:
            view[step.name] = StepRecord("dropped", {})
        lost += batch
    return lost


def _unblocked(shape: DagShape, generation: int, done: Done) -> list[tuple[Step, list[Step]]]:
    return [
        (step, needs)
        for step, needs in steps_of(shape, generation, done)
        if not _finished(done, step) and all(_finished(done, need) for need in needs)
    ]


def _lost_input(step: Step, needs: list[Step], done: Done) -> bool:
    return step.phase.droppable and any(
        need.phase.droppable and done[need.name].status == "dropped" for need in needs
    )


def generation_complete(shape: DagShape, generation: int, done: Done) -> bool:
    """The generation's commit (select, or sync when it adapts) and, when due, its benchmark have succeeded."""
    benchmarked = not shape.benchmarks(generation) or _ok(done, Step(generation, Phase.BENCHMARK))
    return _ok(done, committing_step(shape, generation)) and benchmarked


def run_finished(shape: DagShape, generation: int, done: Done) -> bool:
    """True once the last configured generation is complete (never, for unbounded runs)."""
    return shape.is_last(generation) and generation_complete(shape, generation, done)


def first_incomplete_generation(shape: DagShape, done: Done) -> int:
    """Where an executor resumes: the first generation not yet closed (or the last one)."""
    generation = 0
    while generation_complete(shape, generation, done) and not shape.is_last(generation):
        generation += 1
    return generation
