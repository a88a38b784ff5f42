"""Derived views over a generation's records, shared by the phases that need them.

Nothing here is stored twice: who is evaluated at step j, which pool a generation is
evaluated on, and who survived selection are all re-derived from the immutable
records (plan, scores, select.json, the previous archive), so every phase that asks
gets the same answer, before or after a crash.
"""

from __future__ import annotations

from collections.abc import Mapping

from acdc.engine.archive import ArchiveMember, with_scores
from acdc.engine.ids import is_seed_model
from acdc.engine.integrity import check_folder
from acdc.engine.state import RunState
from acdc.engine.taskpool import TaskPool
from acdc.errors import StateError
from acdc.phases.context import PhaseContext
from acdc.phases.dag import DagShape
from acdc.phases.run_models import starting_ids, stored_model_path
from acdc.steps import Phase, Step, StepRecord


def evaluated_models(ctx: PhaseContext, generation: int) -> list[str]:
    """Model ids in DAG index order: starting models first (generation 0 only), then the plan's children."""
    seeds = starting_ids(ctx.spec)[: DagShape.from_spec(ctx.spec).seed_slots(generation)]
    return seeds + [child.child_id for child in RunState(ctx.state).load_plan(generation)]


def evaluation_pool(state: RunState, generation: int) -> TaskPool:
    """The pool a generation's children are evaluated on: the one the previous generation left."""
    return state.load_pool(0 if generation == 0 else generation - 1)


def previous_archive(state: RunState, generation: int) -> list[ArchiveMember]:
    return state.load_archive(generation - 1) if generation > 0 else []


def step_scores(state: RunState, step: Step, model_id: str, rescore: bool = False,
                given_up: frozenset[str] = frozenset()) -> dict[str, float | None] | None:
    """The scores ``step`` left for ``model_id``, or None when the step did not succeed
    (dropped, or not run because an earlier step of the model was): its record on the volume
    says so, or the operator, which keeps the records of the steps it gave up in the run's
    status, named it (``given_up``: ``PhaseContext.given_up``).

    A step without scores that no record says did not succeed is damage, not a drop: a step's
    record is written only after its outputs, and the operator records a score Job's success
    from the Job, not the volume, so skipping the model would silently change who competes.
    """
    if state.has_scores(step.generation, model_id, rescore):
        return state.load_scores(step.generation, model_id, rescore)
    record = state.load_step(step)
    rerun = (f"`acdc run --state {state.root}` runs it again on resume; under the operator run "
             f"`{rerun_command(state, step)}` on the volume (its Job's command; the "
             f"{'reevaluate' if rescore else 'evaluate'} step first if its answers are gone too), then resume the run")
    if record is not None and record.status == "succeeded":
        raise StateError(state.scores_file(step.generation, model_id, rescore),
                         f"missing, though {step.name} succeeded (lost after it ran): {rerun}")
    if record is None and step.name not in given_up:
        raise StateError(state.scores_file(step.generation, model_id, rescore),
                         f"missing, and no record of {step.name} is on the volume or says it was given up: its "
                         f"outputs were lost (a restore from an older backup, a write the storage dropped); {rerun}")
    return None


def rerun_command(state: RunState, step: Step) -> str:
    """The command that runs ``step`` again by hand, as its Job runs it: a per-model step whose
    outputs were lost, which the operator (holding its record in the run's status) never redoes."""
    index = "" if step.index is None else f" --index {step.index}"
    return f"acdc phase {step.phase.value} --state {state.root} --generation {step.generation}{index}"


def children(ctx: PhaseContext, generation: int) -> list[ArchiveMember]:
    """This generation's evaluated models that have scores (dropped ones have none)."""
    state = RunState(ctx.state)
    parents = {child.child_id: child.parents for child in state.load_plan(generation)}
    out = []
    for index, model_id in enumerate(evaluated_models(ctx, generation)):
        scores = step_scores(state, Step(generation, Phase.SCORE, index), model_id, given_up=ctx.given_up)
        if scores is None:
            continue
        out.append(ArchiveMember(
            model_id=model_id,
            model_path=stored_model_path(ctx, model_id),
            fitness=0.0,  # recomputed over the active pool by selection
            scores=scores,
            parents=() if is_seed_model(model_id) else tuple(parents[model_id]),
        ))
    return out


def selected(ctx: PhaseContext, generation: int) -> list[ArchiveMember]:
    """Survivors of this generation's selection, in rank order, with fitness over its pool."""
    state = RunState(ctx.state)
    record = state.load_selection(generation)
    by_id = {m.model_id: m for m in (*previous_archive(state, generation), *children(ctx, generation))}
    lost = [model_id for model_id in record.survivors if model_id not in by_id]
    if lost:
        raise StateError(state.selection_file(generation), f"survivors {', '.join(lost)} are neither in the previous "
                         "archive nor among this generation's scored models")
    active = evaluation_pool(state, generation).active
    threshold = ctx.spec.selection.skill_threshold
    return [with_scores(by_id[model_id], {}, active, threshold) for model_id in record.survivors]


CHAINS = ((Phase.MERGE, Phase.EVALUATE, Phase.SCORE), (Phase.REEVALUATE, Phase.RESCORE))
"""The per-model steps of one index, each reading the output of the one before it."""


def _output_lost(state: RunState, step: Step, model_id: str) -> bool:
    """Whether ``step``'s output is gone or damaged (does not read back): made again, not read."""
    if step.phase is Phase.MERGE:
        return bool(check_folder(state.model_dir(model_id)))
    rescore = step.phase in (Phase.REEVALUATE, Phase.RESCORE)
    try:
        if step.phase in (Phase.EVALUATE, Phase.REEVALUATE):
            state.load_answers(step.generation, model_id, rescore)
        else:
            state.load_scores(step.generation, model_id, rescore)
    except StateError:
        return True
    return False


def lost_outputs(state: RunState, generation: int, records: Mapping[str, StepRecord]) -> list[Step]:
    """Succeeded per-model steps of ``generation`` (the one in progress) to run again, latest first,
    because an output someone still needs was lost or damaged after the step ran (deleted, a
    restore from an older backup, a write the storage dropped or corrupted): a model's scores (select reads them), its answers
    while its score has yet to run, its merged folder (it joins the archive).

    Every succeeded step after the first lost one in its chain runs again too: a merge redone
    under another thread count need not give the same weights bit for bit, so the answers and
    scores of the old weights are not kept beside the new ones. Their phases are idempotent:
    the same inputs give the same outputs. Latest first, so that a kill while forgetting
    leaves the earlier records, and the next resume finds the same steps to redo."""
    redo: list[Step] = []
    indices = {step.index for step in map(Step.parse, records) if step.generation == generation}
    for chain in CHAINS:
        for index in sorted(i for i in indices if i is not None):
            steps = [Step(generation, phase, index) for phase in chain]
            done = [(step, record) for step in steps if (record := records.get(step.name)) is not None]
            first = None
            needed = True  # the last step's output (scores) is always needed
            for position in range(len(steps) - 1, -1, -1):
                record = records.get(steps[position].name)
                if record is None:
                    needed = True  # it runs, so it reads what the step before it wrote
                    continue
                model_id = record.result.get("model")
                if record.status != "succeeded" or not isinstance(model_id, str):
                    break  # dropped (nothing after it runs) or an old record that names no model
                if (needed or steps[position].phase is Phase.MERGE) and _output_lost(state, steps[position], model_id):
                    first = position
                    needed = True
                else:
                    needed = False
            if first is not None:
                redo += [step for step, record in reversed(done)
                         if steps.index(step) >= first and record.status == "succeeded"]
    return redo
