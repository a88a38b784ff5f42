"""merge: make one child (crossover + mutation via mergekit) and reject broken ones.

The free-disk check runs before any byte is written, so a full volume fails the step with
a clear message instead of leaving a half-written model; the sanity check rejects a
degenerate child (exit code 3: dropped, not retried, since a re-run gives the same child).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from acdc.engine.retention import directory_size, ensure_free_space
from acdc.phases.context import PhaseContext, StepRejected, state_of
from acdc.phases.integrity import require_models
from acdc.phases.records import evaluated_models
from acdc.phases.run_models import BASE_MODEL_ID, model_path, resolved_models


def run(ctx: PhaseContext) -> dict[str, Any]:
    from acdc.models.merge import ChildRecipe, Operator, make_child
    from acdc.models.sanity import check_model
    from acdc.toyworld.probes import toy_probes

    g = ctx.step.generation
    state = state_of(ctx)
    child_id = ctx.pick(evaluated_models(ctx, g))
    plan = next(p for p in state.load_plan(g) if p.child_id == child_id)
    base = resolved_models(ctx.state).get(BASE_MODEL_ID)
    require_models(ctx.state, [*plan.parents, *([BASE_MODEL_ID] if base else [])])
    parents = [model_path(ctx, parent) for parent in plan.parents]
    needed = directory_size(Path(parents[0]))
    min_free = int(ctx.spec.retention.min_free_gib * 2**30)
    ensure_free_space(state.models_dir, needed + min_free, f"merge {child_id}")
    crossover = Operator(plan.crossover["method"], plan.crossover["params"]) if len(set(parents)) > 1 else None
    mutation = Operator(plan.mutation["method"], plan.mutation["params"]) if plan.mutation else None
    recipe = ChildRecipe(parents=tuple(dict.fromkeys(parents)) if crossover is None else tuple(parents),
                         seed=plan.seed, base_model=base, crossover=crossover, mutation=mutation)
    out = make_child(recipe, state.model_dir(child_id))
    result: dict[str, Any] = {"model": child_id, "bytes": directory_size(out)}
    if ctx.spec.population.sanity_check:
        report = check_model(out, toy_probes(), parents=sorted(set(parents)))
        if not report.ok:
            raise StepRejected("gibberish", {**result, "reasons": report.reasons})
    return result
