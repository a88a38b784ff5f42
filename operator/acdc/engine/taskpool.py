"""Task pool bookkeeping: the active pool, difficulty bands, adaptation plan, pruning.

This module decides *which* tasks to adapt, retire or reinstate and *which* tasks each
model must be evaluated on; writing the tasks is the scientist's job (tasks phase).
Semantics follow the reference's ``adapt_task_pool`` (sec. 5.7-5.9):

1. limbo resolution: an adapted child that turned out impossible is dropped and the
   parent it replaced comes back (and must be re-evaluated);
2. impossible tasks (pass rate 0) are discarded, unless every task is impossible;
3. parents are drawn uniformly *with replacement* from hard + easy + medium tasks;
4. each parent gets an adaptation kind from its band (easy -> harder, or novel with a
   small probability; medium -> novel, "similar" or "completely new"; impossible/hard
   -> easier); easier/harder parents leave the pool until their child is judged;
5. after the scientist ran, successes join the pool, the pool is sorted by task number
   and pruned oldest-first to ``max_pool_size``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from acdc.engine.ids import canonical_task_order, task_number
from acdc.engine.rng import generator
from acdc.engine.skills import pass_rates
from acdc.engine.solved import SOLVED_THRESHOLD
from acdc.errors import UserError

Band = Literal["impossible", "hard", "medium", "easy"]
Kind = Literal["easier", "harder", "novel"]
Prompt = Literal["make_easier", "make_harder", "make_novel", "make_novel_similar"]


@dataclass(frozen=True)
class TaskPoolParams:
    """Defaults are the reference's ``acdc``/``task_generation`` settings."""

    max_pool_size: int = 250
    easy_threshold: float = 0.5
    hard_threshold: float = 0.0
    new_tasks_per_generation: int = 150
    adaptation_interval: int = 5
    discard_impossible: bool = True
    conditional_parent_replacement: bool = True
    novel_similar_probability: float = 0.8
    novel_not_harder_probability: float = 0.0

    def __post_init__(self) -> None:
        if self.max_pool_size < 1:
            raise UserError(f"max_pool_size must be >= 1, got {self.max_pool_size}")
        if not 0.0 <= self.hard_threshold <= self.easy_threshold <= 1.0:
            raise UserError("difficulty thresholds need 0 <= hard_threshold <= easy_threshold <= 1")
        for name in ("novel_similar_probability", "novel_not_harder_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise UserError(f"{name} must be within [0, 1]")
        if self.new_tasks_per_generation < 0 or self.adaptation_interval < 0:
            raise UserError("new_tasks_per_generation and adaptation_interval must be >= 0")


@dataclass(frozen=True)
class TaskPool:
    """Active tasks (canonical order), the last task number issued, and limbo child -> parent."""

    active: tuple[str, ...] = ()
    counter: int = 0
    limbo: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"active": list(self.active), "counter": self.counter, "limbo": dict(sorted(self.limbo.items()))}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskPool:
        active = tuple(canonical_task_order(str(t) for t in data["active"]))
        counter = int(data["counter"])
        if active and task_number(active[-1]) > counter:
            raise ValueError(f"counter {counter} is below the newest active task {active[-1]}")
        return cls(active, counter, {str(k): str(v) for k, v in dict(data["limbo"]).items()})

    def with_tasks(self, task_ids: Iterable[str]) -> TaskPool:
        """Add tasks (e.g. the initial pool); the counter never moves backwards."""
        merged = canonical_task_order((*self.active, *task_ids))
        top = max((task_number(t) for t in merged), default=0)
        return replace(self, active=tuple(merged), counter=max(self.counter, top))

    def without(self, task_ids: Iterable[str]) -> TaskPool:
        gone = set(task_ids)
        return replace(
            self,
            active=tuple(t for t in self.active if t not in gone),
            limbo={c: p for c, p in self.limbo.items() if c not in gone},
        )


def band(pass_rate: float, params: TaskPoolParams) -> Band | None:
    """Difficulty band of one pass rate; None (NaN) means nobody was evaluated on it yet."""
    if math.isnan(pass_rate):
        return None
    if pass_rate == 0.0:
        return "impossible"
    if pass_rate < params.hard_threshold:
        return "hard"
    if pass_rate > params.easy_threshold:
        return "easy"
    return "medium"


def bands(pass_rates: Mapping[str, float], params: TaskPoolParams) -> dict[str, Band]:
    """Band of each evaluated task (unevaluated tasks are left out, as in the reference)."""
    out: dict[str, Band] = {}
    for tid, rate in pass_rates.items():
        b = band(rate, params)
        if b is not None:
            out[tid] = b
    return out


@dataclass(frozen=True)
class AdaptationRequest:
    """One task the scientist should write: its reserved number, parent and kind."""

    number: int
    parent: str
    kind: Kind
    prompt: Prompt
    parent_pass_rate: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "parent": self.parent,
            "kind": self.kind,
            "prompt": self.prompt,
            "parent_pass_rate": self.parent_pass_rate,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AdaptationRequest:
        return cls(
            int(data["number"]), str(data["parent"]), data["kind"], data["prompt"], float(data["parent_pass_rate"])
        )

    @property
    def parks_parent(self) -> bool:
        return self.kind in ("easier", "harder")


@dataclass(frozen=True)
class AdaptationPlan:
    """Pool after removals, what to generate, and parents reinstated from limbo."""

    pool: TaskPool
    requests: tuple[AdaptationRequest, ...]
    reinstated: tuple[str, ...]
    discarded: tuple[str, ...]


def _kind(rate: float, params: TaskPoolParams, draw: float) -> tuple[Kind, Prompt]:
    if rate == 0.0 or rate < params.hard_threshold:
        return "easier", "make_easier"
    if rate > params.easy_threshold:
        if draw < params.novel_not_harder_probability:
            return "novel", "make_novel"
        return "harder", "make_harder"
    if draw < params.novel_similar_probability:
        return "novel", "make_novel_similar"
    return "novel", "make_novel"


def plan_adaptation(
    pool: TaskPool, pass_rates: Mapping[str, float], params: TaskPoolParams, seed: int, generation: int
) -> AdaptationPlan:
    """Steps 1-4 of the module docstring; task numbers are reserved in the returned pool."""
    rates = {t: pass_rates.get(t, math.nan) for t in pool.active}
    by_band = bands(rates, params)
    impossible = [t for t in pool.active if by_band.get(t) == "impossible"]
    reinstated: list[str] = []
    discarded: list[str] = []
    if params.conditional_parent_replacement and params.discard_impossible:
        failed_children = [t for t in impossible if t in pool.limbo]
        reinstated = sorted({pool.limbo[c] for c in failed_children} - set(pool.active), key=task_number)
        discarded.extend(failed_children)
        pool = pool.without(failed_children).with_tasks(reinstated)
    still_impossible = [t for t in impossible if t in pool.active]
    if params.discard_impossible and len(still_impossible) < len(pool.active):
        discarded.extend(still_impossible)
        pool = pool.without(still_impossible)
    candidates = [t for t in pool.active if by_band.get(t) in ("hard", "easy", "medium")]
    if not candidates:
        candidates = [t for t in pool.active if by_band.get(t) == "impossible"]
    rng = generator(seed, "task-adaptation", generation)
    requests: list[AdaptationRequest] = []
    counter = pool.counter
    if candidates and params.new_tasks_per_generation:
        picks = rng.integers(0, len(candidates), size=params.new_tasks_per_generation)
        draws = rng.random(params.new_tasks_per_generation)
        for pick, draw in zip(picks.tolist(), draws.tolist(), strict=True):
            parent = candidates[pick]
            kind, prompt = _kind(rates[parent], params, draw)
            counter += 1
            requests.append(AdaptationRequest(counter, parent, kind, prompt, rates[parent]))
    parked = {r.parent for r in requests if r.parks_parent} if params.conditional_parent_replacement else set()
    pool = replace(pool.without(parked), counter=counter)
    return AdaptationPlan(pool, tuple(requests), tuple(reinstated), tuple(discarded))


def apply_adaptation(
    plan: AdaptationPlan, created: Mapping[int, str | None], params: TaskPoolParams
) -> tuple[TaskPool, tuple[str, ...]]:
    """Step 5: add the scientist's successes and prune; return the pool and tasks to evaluate.

    ``created`` maps a request number to the new task id, or None if generation or
    validation failed. A parked parent goes into limbo behind its successful children;
    it returns to the pool only if none of its children succeeded (the reference
    re-adds it on any failure, which can leave a parent and its replacement side by side).
    """
    pool = plan.pool
    limbo = dict(pool.limbo)
    new_tasks: list[str] = []
    parked_ok: dict[str, bool] = {}
    for request in plan.requests:
        tid = created.get(request.number)
        if tid is not None and task_number(tid) != request.number:
            raise ValueError(f"task {tid} does not carry the reserved number {request.number}")
        if request.parks_parent and params.conditional_parent_replacement:
            parked_ok[request.parent] = parked_ok.get(request.parent, False) or tid is not None
            if tid is not None:
                limbo[tid] = request.parent
        if tid is not None:
            new_tasks.append(tid)
    back = [parent for parent, ok in parked_ok.items() if not ok]
    pool = replace(pool, limbo=limbo).with_tasks((*new_tasks, *back))
    pool = prune(pool, params.max_pool_size)
    active = set(pool.active)
    to_evaluate = tuple(t for t in canonical_task_order((*new_tasks, *back, *plan.reinstated)) if t in active)
    return pool, to_evaluate


def prune(pool: TaskPool, max_size: int) -> TaskPool:
    """FIFO: drop the oldest (lowest-numbered) tasks until the pool fits."""
    excess = len(pool.active) - max_size
    return pool.without(pool.active[:excess]) if excess > 0 else pool


def pool_pass_rates(
    pool: TaskPool, scores: Sequence[Mapping[str, float | None]], threshold: float = SOLVED_THRESHOLD
) -> dict[str, float]:
    """Pass rate per active task over the archive's score records (NaN where unevaluated)."""
    return dict(zip(pool.active, pass_rates(scores, pool.active, threshold).tolist(), strict=True))
