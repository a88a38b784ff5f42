"""evaluate / reevaluate: a model answers task instances; answers are stored for scoring.

The model never sees task code: instances come from the sandbox (cached beside each task
as instances.json). Children are evaluated on the whole pool their generation runs on;
an archive member is re-evaluated on exactly the active tasks it has no score for.
"""

from __future__ import annotations

from typing import Any

from acdc.engine.archive import missing_tasks
from acdc.engine.state import RunState
from acdc.phases.context import PhaseContext, state_of
from acdc.phases.integrity import require_models, require_tasks
from acdc.phases.records import evaluated_models, evaluation_pool, selected
from acdc.phases.run_models import model_path
from acdc.phases.services import sandbox


def backend_kind(requested: str) -> str:
    """auto: vLLM where a GPU and vLLM exist (the worker image), transformers elsewhere."""
    if requested != "auto":
        return requested
    import importlib.util

    import torch

    return "vllm" if torch.cuda.is_available() and importlib.util.find_spec("vllm") else "transformers"


def generate(ctx: PhaseContext, model_dir: str, chats: list[list[dict[str, str]]]) -> list[str]:
    from acdc.models.inference import SamplingParams, make_backend

    inference = ctx.spec.inference
    kind = backend_kind(inference.backend)
    options: dict[str, Any] = {"batch_size": inference.batch_size, "max_model_len": inference.max_model_len} \
        if kind == "transformers" else {
        "max_model_len": inference.max_model_len, "gpu_memory_utilization": inference.gpu_memory_utilization}
    backend = make_backend(kind, model_dir, **options)
    try:
        params = SamplingParams(max_tokens=inference.max_tokens, temperature=inference.temperature,
                                top_p=inference.top_p, seed=ctx.spec.seed)
        return backend.generate(chats, params) if chats else []
    finally:
        backend.close()


def _evaluate(ctx: PhaseContext, model_id: str, model_dir: str, task_ids: list[str], rescore: bool) -> dict[str, Any]:
    from acdc.tasks.answers import chat_for, extract_answer
    from acdc.tasks.instances import load_instances

    require_models(ctx.state, [model_id])
    require_tasks(ctx.state, task_ids)
    with sandbox(ctx, judge=False) as pool:
        materialized = load_instances(pool, [RunState(ctx.state).task_dir(t) for t in task_ids])
    per_task = ctx.spec.tasks.instances_per_task
    chats, owners = [], []
    for task_id, outcome in zip(task_ids, materialized, strict=True):
        for instance in outcome.instances[:per_task]:
            chats.append(chat_for(instance.instructions, ctx.spec.inference.prompt_style))
            owners.append(task_id)
    completions = generate(ctx, model_dir, chats)
    answers: dict[str, dict[str, list[str]]] = {t: {"raw": [], "answers": []} for t in task_ids}
    for task_id, completion in zip(owners, completions, strict=True):
        answers[task_id]["raw"].append(completion)
        answers[task_id]["answers"].append(extract_answer(completion, ctx.spec.reference_parity.answer_extraction))
    state_of(ctx).save_answers(ctx.step.generation, model_id, answers, rescore)
    return {"model": model_id, "tasks": len(task_ids), "answers": len(chats)}


def run(ctx: PhaseContext) -> dict[str, Any]:
    g = ctx.step.generation
    model_id = ctx.pick(evaluated_models(ctx, g))
    tasks = list(evaluation_pool(state_of(ctx), g).active)
    return _evaluate(ctx, model_id, model_path(ctx, model_id), tasks, rescore=False)


def run_archive(ctx: PhaseContext) -> dict[str, Any]:
    g = ctx.step.generation
    member = ctx.pick(selected(ctx, g))
    tasks = missing_tasks(member, state_of(ctx).load_pool(g).active)
    return _evaluate(ctx, member.model_id, model_path(ctx, member.model_id), tasks, rescore=True)
