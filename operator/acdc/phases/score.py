"""score / rescore: grade stored answers in the sandbox; write the model's task scores."""

from __future__ import annotations

from collections import Counter
from typing import Any

from acdc.engine.skills import fitness
from acdc.engine.state import RunState
from acdc.phases.context import PhaseContext, state_of
from acdc.phases.integrity import require_tasks
from acdc.phases.records import evaluated_models, selected
from acdc.phases.services import sandbox


def _score(ctx: PhaseContext, model_id: str, rescore: bool) -> dict[str, Any]:
    from acdc.tasks.instances import score_tasks

    g = ctx.step.generation
    state = state_of(ctx)
    answers = state.load_answers(g, model_id, rescore)
    require_tasks(ctx.state, answers)  # a task whose code is gone must not score null for this model only
    by_dir = {RunState(ctx.state).task_dir(t): a["answers"] for t, a in answers.items()}
    with sandbox(ctx) as pool:
        graded = score_tasks(pool, by_dir, ctx.spec.tasks.instances_per_task)
    scores: dict[str, float | None] = {}
    kinds: Counter[str] = Counter()
    for task_id in answers:
        task_score = graded[RunState(ctx.state).task_dir(task_id)]
        kinds.update(r.kind for r in task_score.results)
        # No instance could be scored at all: a broken task, not a failing model.
        scores[task_id] = task_score.score if task_score.results else None
    state.save_scores(g, model_id, scores, rescore)
    threshold = ctx.spec.selection.skill_threshold
    solved = sum(1 for s in scores.values() if s is not None and s >= threshold)
    return {
        "model": model_id,
        "fitness": round(fitness(scores, list(scores), threshold), 6) if scores else 0.0,
        "solved": solved,
        "tasks": len(scores),
        "timeouts": kinds["timeout"],
        "violations": kinds["violation"] + kinds["memory"],
    }


def run(ctx: PhaseContext) -> dict[str, Any]:
    return _score(ctx, ctx.pick(evaluated_models(ctx, ctx.step.generation)), rescore=False)


def run_archive(ctx: PhaseContext) -> dict[str, Any]:
    return _score(ctx, ctx.pick(selected(ctx, ctx.step.generation)).model_id, rescore=True)
