"""tasks: write the initial task pool (generation 0) or adapt it (every K generations).

The engine decides what to adapt (bands, limbo, reserved task numbers, pruning); the
scientist writes task folders; the sandbox proves each new task loads and produces
instructions; the novelty filter keeps near-duplicates of earlier tasks out. A rejected
or invalid task is simply not added: the pool stays consistent whatever the scientist does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from acdc.atomic import remove_dir
from acdc.engine.ids import is_task_id, task_number
from acdc.engine.state import RunState
from acdc.engine.taskpool import TaskPool, apply_adaptation, plan_adaptation, pool_pass_rates
from acdc.errors import PhaseError
from acdc.phases.context import PhaseContext, state_of
from acdc.phases.faults import Fault, classify
from acdc.phases.integrity import require_tasks
from acdc.phases.params import pool_params
from acdc.phases.records import selected
from acdc.phases.services import sandbox

if TYPE_CHECKING:  # imported where used: the procedural scientist needs no HTTP client or embedder
    from acdc.llm_client import OpenAIClient
    from acdc.tasks.novelty import NoveltyFilter
    from acdc.tasks.sandbox import SandboxPool
    from acdc.tasks.scientist.base import AdaptationKind, Scientist, ScientistContext

log = logging.getLogger(__name__)

_KIND_OF_PROMPT: dict[str, AdaptationKind] = {"make_easier": "easier", "make_harder": "harder", "make_novel": "novel",
                   "make_novel_similar": "novel_similar"}


def _client(ctx: PhaseContext, role: Literal["scientist", "embedding"]) -> OpenAIClient:
    """OpenAI client for the scientist or embedding endpoint of this run."""
    from acdc.errors import UserError
    from acdc.phases.services import endpoint_client

    endpoint = ctx.spec.scientist.endpoint if role == "scientist" else ctx.spec.embedding.endpoint
    if endpoint is None:  # the spec's validator requires it for kinds that call it
        raise UserError(f"spec.{role}.endpoint is required here")
    return endpoint_client(endpoint, role, ctx.run_name)


def make_scientist(ctx: PhaseContext, pool: SandboxPool) -> Scientist:
    """The run's scientist; the LLM one validates its drafts in the given sandbox pool."""
    spec = ctx.spec
    if spec.scientist.kind == "procedural":
        from acdc.tasks.scientist.procedural import ProceduralScientist

        return ProceduralScientist(seed=spec.seed, instances=spec.tasks.instances_per_task)
    from acdc.tasks.scientist.llm import LLMScientist

    return LLMScientist(_client(ctx, "scientist"), pool, max_reflections=spec.tasks.max_reflections,
                        temperature=spec.scientist.temperature, top_p=spec.scientist.top_p,
                        max_tokens=spec.scientist.max_tokens, novel_probability=spec.tasks.novel_prompt_probability,
                        seed=spec.seed)


def make_novelty_filter(ctx: PhaseContext) -> NoveltyFilter | None:
    novelty = ctx.spec.tasks.novelty
    if not novelty.enabled:
        return None
    from acdc.tasks.embedders import make_embedder
    from acdc.tasks.novelty import InterestinglyNewCheck, NoveltyFilter

    kind = ctx.spec.embedding.kind
    embedder = make_embedder(kind, _client(ctx, "embedding") if kind == "endpoint" else None)
    llm_check = None
    if novelty.llm_check and ctx.spec.scientist.kind == "llm":
        llm_check = InterestinglyNewCheck(_client(ctx, "scientist"))
    return NoveltyFilter(RunState(ctx.state).novelty_dir, embedder, novelty.similarity_threshold, llm_check=llm_check,
                         max_neighbours=novelty.max_neighbors)


def _accept(ctx: PhaseContext, pool: SandboxPool, written: Sequence[Path | None], novelty: NoveltyFilter | None,
            check_novelty: Callable[[Path], bool]) -> tuple[list[str], int, int]:
    """Keep the written tasks that load in the sandbox and pass the novelty filter."""
    from acdc.tasks.format import read_card
    from acdc.tasks.instances import load_instances

    paths = [p for p in written if p is not None]
    accepted, invalid, rejected = [], len(written) - len(paths), 0
    for path, outcome in zip(paths, load_instances(pool, paths), strict=True):
        if not outcome.ok or not outcome.instances:
            log.info("task %s rejected: %s", path.name, outcome.error)
            invalid += 1
            continue
        # A task the store already holds is one a re-run of this finished step wrote again
        # (an interrupted attempt's entries were forgotten first): checked again, it would
        # find itself and be rejected.
        if novelty is not None and check_novelty(path) and path.name not in novelty:
            verdict = novelty.check(read_card(path))
            if not verdict.novel:
                log.info("task %s rejected as not novel: %s", path.name, verdict.reason)
                rejected += 1
                continue
            novelty.add(path.name, read_card(path))
        accepted.append(path.name)
    return accepted, invalid, rejected


def _forget_earlier_attempt(ctx: PhaseContext, issued: Callable[[int], bool], novelty: NoveltyFilter | None) -> None:
    """Remove what an interrupted attempt of this step left: the task folders under numbers
    this step issues, and their novelty entries.

    A retry writes its own (an LLM scientist's need not have the earlier names). The earlier
    folders would sit beside them under the same numbers, and in the novelty store they would
    reject the retry's tasks as near duplicates of tasks no pool holds. Only while the step's
    generation is uncommitted: then no committed pool holds a task under those numbers, and
    the attempt's novelty entries are the store's newest.
    """
    state = RunState(ctx.state)
    latest = state.latest_generation()
    if latest is not None and latest >= ctx.step.generation:
        return  # the step's generation is committed: this is a re-run of a finished step, and its tasks are the run's
    tasks_dir = state.tasks_dir
    stale = sorted(path.name for path in tasks_dir.iterdir() if is_task_id(path.name) and issued(task_number(path.name)))
    if not stale:
        return
    log.info("removing %d task folders an interrupted attempt of this step wrote", len(stale))
    if novelty is not None:
        novelty.forget(stale)
    for name in stale:
        remove_dir(tasks_dir / name)


def _context(ctx: PhaseContext, numbers: Callable[[], int],
             examples: Sequence[tuple[Path, float]] = ()) -> ScientistContext:
    from acdc.tasks.scientist.base import ScientistContext

    return ScientistContext(pool_dir=RunState(ctx.state).tasks_dir, generation=ctx.step.generation, next_number=numbers,
                            seed=ctx.spec.seed, examples=tuple(examples))


def initial_pool(ctx: PhaseContext) -> dict[str, Any]:
    from acdc.tasks.seed_tasks import list_task_dirs, resolve_seed_tasks

    spec = ctx.spec
    counter = iter(range(1, 10**6))
    seeds = [(path, float("nan")) for path in list_task_dirs(resolve_seed_tasks(spec.tasks.seed_tasks))]
    novelty = make_novelty_filter(ctx)
    _forget_earlier_attempt(ctx, lambda _number: True, novelty)  # no pool exists yet
    with sandbox(ctx) as pool:
        scientist = make_scientist(ctx, pool)
        written = scientist.propose_initial(spec.tasks.initial_pool_size, _context(ctx, lambda: next(counter), seeds))
        accepted, invalid, rejected = _accept(ctx, pool, written, novelty, lambda _path: True)
    if not accepted:  # nothing to evaluate any model on: a run of fitness 0, not a result
        raise PhaseError(f"the initial task pool came out empty: of {len(written)} proposals {invalid} were "
                         f"invalid and {rejected} not novel (the scientist's log says why)")
    accepted = accepted[: spec.tasks.max_pool_size]
    issued = max((task_number(p.name) for p in written if p is not None), default=0)
    task_pool = TaskPool(counter=issued).with_tasks(accepted)
    state_of(ctx).save_pool(0, task_pool)
    return {"pool": len(task_pool.active), "added": len(accepted), "retired": 0, "rejectedNovelty": rejected,
            "invalid": invalid}


def adapt_pool(ctx: PhaseContext) -> dict[str, Any]:
    g = ctx.step.generation
    state = state_of(ctx)
    params = pool_params(ctx.spec)
    survivors = selected(ctx, g)
    before = state.load_pool(g - 1)
    require_tasks(ctx.state, before.active)  # the scientist adapts these: damage must stop the run, not the draft
    rates = pool_pass_rates(before, [m.scores for m in survivors], ctx.spec.selection.skill_threshold)
    plan = plan_adaptation(before, rates, params, ctx.spec.seed, g)
    state.save_adaptation(g, plan.requests)
    novelty = make_novelty_filter(ctx)
    _forget_earlier_attempt(ctx, {r.number for r in plan.requests}.__contains__, novelty)
    examples = [(RunState(ctx.state).task_dir(t), rates[t]) for t in before.active]
    written: list[Path | None] = []
    with sandbox(ctx) as pool:
        scientist = make_scientist(ctx, pool)
        for request in plan.requests:
            reserved = iter([request.number])
            parent = RunState(ctx.state).task_dir(request.parent)
            try:
                path = scientist.adapt(parent, _KIND_OF_PROMPT[request.prompt],
                                       _context(ctx, partial(next, reserved), examples), request.parent_pass_rate)
            except Exception as exc:  # one bad draft must not sink the adaptation; a full disk must
                if classify(exc) is Fault.INFRASTRUCTURE:
                    raise
                log.warning("adapting %s failed: %s", request.parent, exc)
                path = None
            written.append(path)
        kinds = {r.number: _KIND_OF_PROMPT[r.prompt] for r in plan.requests}
        accepted, invalid, rejected = _accept(ctx, pool, written, novelty,
                                              lambda path: kinds[task_number(path.name)].startswith("novel"))
    created = {r.number: None for r in plan.requests} | {task_number(t): t for t in accepted}
    after, _to_evaluate = apply_adaptation(plan, created, params)
    state.save_pool(g, after)
    retired = len(set(before.active) - set(after.active) - set(after.limbo.values()))
    return {"pool": len(after.active), "added": len(accepted), "retired": retired, "rejectedNovelty": rejected,
            "invalid": invalid, "archive": len(survivors)}


def run(ctx: PhaseContext) -> dict[str, Any]:
    return initial_pool(ctx) if ctx.step.generation == 0 else adapt_pool(ctx)
