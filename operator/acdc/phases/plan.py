"""plan: choose each child's parents and write the generation's merge recipes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from acdc.engine.ids import model_id
from acdc.engine.parents import plan_children
from acdc.phases.context import PhaseContext, state_of
from acdc.phases.dag import DagShape
from acdc.phases.params import parent_params
from acdc.phases.records import previous_archive
from acdc.phases.run_models import seed_ids
from acdc.spec.run import CrossoverSpec


def crossover_params(c: CrossoverSpec) -> dict[str, Any]:
    """The spec's crossover in the models package's terms (method + its parameters)."""
    if c.method == "linear":
        params: dict[str, Any] = {"std": c.weight_std}
    elif c.method == "slerp":
        params = {}
    else:  # mergekit's task-vector family
        params = {"lambda": c.scale, "normalize": c.normalize, "std": c.weight_std}
        if c.method != "task_arithmetic":
            params["density"] = c.density
    return {"method": c.method, "params": params}


def mutation_params(ctx: PhaseContext) -> dict[str, Any]:
    m = ctx.spec.mutation
    if m.method == "none":
        return {}
    params: dict[str, Any] = {"rate": m.effective_rate, "skip_embeddings": m.skip_embeddings}
    if m.method == "svd":
        params["keep_rank"] = m.keep_rank
    return {"method": {"svd": "svd_gaussian", "gaussian": "gaussian"}[m.method], "params": params}


def run(ctx: PhaseContext) -> dict[str, Any]:
    g = ctx.step.generation
    state = state_of(ctx)
    shape = DagShape.from_spec(ctx.spec)
    if g == 0:  # generation 0 crosses seed experts (the reference's initial population)
        parents, fitness = seed_ids(ctx.spec), [0.0] * len(ctx.spec.models.seeds)
    else:
        archive = previous_archive(state, g)
        parents, fitness = [m.model_id for m in archive], [m.fitness for m in archive]
    plans = plan_children(parents, fitness, shape.children(g), ctx.spec.seed, g, parent_params(ctx.spec),
                          crossover_params(ctx.spec.crossover), mutation_params(ctx))
    offset = shape.seed_slots(g)  # child ids follow the seeds' indices, as step indices do
    plans = [replace(plan, child_id=model_id(g, offset + i)) for i, plan in enumerate(plans)]
    state.save_plan(g, plans)
    return {"children": len(plans)}
