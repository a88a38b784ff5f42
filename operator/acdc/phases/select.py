"""select / sync: Dominated Novelty Search over archive + children, and the generation's commit.

A generation that does not adapt its task pool commits at select (pool carried forward,
then archive); one that adapts commits at sync, after every survivor was re-evaluated on
the new tasks. Model garbage collection runs right after a commit, per the retention policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from acdc.engine.archive import ArchiveMember, select_survivors, with_scores
from acdc.engine.retention import collect_garbage
from acdc.engine.skills import skill_matrix
from acdc.engine.state import SelectionRecord
from acdc.engine.taskpool import TaskPool
from acdc.phases.context import PhaseContext, state_of
from acdc.phases.dag import DagShape
from acdc.phases.params import dns_params, retention_policy
from acdc.phases.records import children, evaluation_pool, previous_archive, selected, step_scores
from acdc.steps import Phase, Step


def summary(members: Sequence[ArchiveMember], pool: TaskPool, threshold: float) -> dict[str, Any]:
    """The small numbers status, metrics and the progress view show."""
    fitness = [m.fitness for m in members]
    skills = skill_matrix([m.scores for m in members], list(pool.active), threshold)
    covered = float(skills.any(axis=0).mean()) if skills.size else 0.0
    return {
        "archive": len(members),
        "bestFitness": round(max(fitness), 6) if fitness else None,
        "meanFitness": round(sum(fitness) / len(fitness), 6) if fitness else None,
        "coverage": round(covered, 6),
        "pool": len(pool.active),
    }


def _commit(ctx: PhaseContext, members: Sequence[ArchiveMember], pool: TaskPool) -> list[str]:
    """Write pool then archive (the commit record), then collect garbage if it is due."""
    g = ctx.step.generation
    state = state_of(ctx)
    state.save_pool(g, pool)
    state.save_archive(g, members)
    if g % ctx.spec.retention.cleanup_interval == 0:
        return collect_garbage(state, g, retention_policy(ctx.spec))
    return []


def run(ctx: PhaseContext) -> dict[str, Any]:
    g = ctx.step.generation
    state = state_of(ctx)
    pool = evaluation_pool(state, g)
    threshold = ctx.spec.selection.skill_threshold
    outcome = select_survivors(previous_archive(state, g), children(ctx, g), pool.active,
                               dns_params(ctx.spec), threshold)
    state.save_selection(g, SelectionRecord.from_outcome(outcome))
    result = summary(outcome.survivors, pool, threshold) | {"evicted": len(outcome.evicted)}
    if not DagShape.from_spec(ctx.spec).adapts(g):
        result["deleted"] = len(_commit(ctx, outcome.survivors, pool))
    return result


def run_sync(ctx: PhaseContext) -> dict[str, Any]:
    g = ctx.step.generation
    state = state_of(ctx)
    pool = state.load_pool(g)
    threshold = ctx.spec.selection.skill_threshold
    members = []
    for index, member in enumerate(selected(ctx, g)):
        fresh = step_scores(state, Step(g, Phase.RESCORE, index), member.model_id, rescore=True, given_up=ctx.given_up)
        members.append(with_scores(member, fresh or {}, pool.active, threshold))
    deleted = _commit(ctx, members, pool)
    return summary(members, pool, threshold) | {"deleted": len(deleted)}
