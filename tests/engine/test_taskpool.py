"""Task pool: bands, adaptation plan (limbo, discard, kinds), pruning, what to evaluate."""

from __future__ import annotations

import math

import pytest

from acdc.engine.ids import canonical_task_order, task_id, task_number
from acdc.engine.taskpool import (
    TaskPool,
    TaskPoolParams,
    apply_adaptation,
    band,
    plan_adaptation,
    pool_pass_rates,
    prune,
)
from acdc.errors import UserError

P = TaskPoolParams(max_pool_size=6, new_tasks_per_generation=8)
T = [task_id(n, f"t{n}") for n in range(1, 6)]


def test_bands_follow_reference_thresholds() -> None:
    assert band(0.0, P) == "impossible"
    assert band(0.2, P) == "medium" and band(0.5, P) == "medium"
    assert band(0.51, P) == "easy" and band(1.0, P) == "easy"
    assert band(math.nan, P) is None
    assert band(0.1, TaskPoolParams(hard_threshold=0.3)) == "hard"


def test_plan_discards_impossible_parks_easy_parents_and_reserves_numbers() -> None:
    pool = TaskPool().with_tasks(T)
    rates = {T[0]: 0.0, T[1]: 1.0, T[2]: 0.25, T[3]: 0.5, T[4]: math.nan}
    plan = plan_adaptation(pool, rates, P, seed=1, generation=5)
    assert plan.discarded == (T[0],)
    assert [r.number for r in plan.requests] == list(range(6, 14))
    assert plan.pool.counter == 13
    for r in plan.requests:
        assert r.parent in (T[1], T[2], T[3])  # unevaluated and impossible tasks are never parents
        assert (r.kind == "harder") == (r.parent == T[1])
        assert r.kind != "easier"
    parked = {r.parent for r in plan.requests if r.kind == "harder"}
    assert not parked & set(plan.pool.active)
    assert plan == plan_adaptation(pool, rates, P, seed=1, generation=5)  # seeded
    assert plan != plan_adaptation(pool, rates, P, seed=2, generation=5)


def test_apply_puts_successful_harder_child_in_limbo_and_restores_failed_parents() -> None:
    pool = TaskPool().with_tasks(T[:2])
    plan = plan_adaptation(pool, {T[0]: 1.0, T[1]: 1.0}, TaskPoolParams(new_tasks_per_generation=6), 3, 5)
    assert {r.kind for r in plan.requests} == {"harder"} and plan.pool.active == ()
    assert {r.parent for r in plan.requests} == {T[0], T[1]}
    # every child of T[0] fails; one child of T[1] succeeds
    ok = next(r for r in plan.requests if r.parent == T[1])
    child = task_id(ok.number, "child")
    new_pool, to_eval = apply_adaptation(plan, {ok.number: child}, TaskPoolParams())
    assert new_pool.active == (T[0], child) and to_eval == (T[0], child)
    assert new_pool.limbo == {child: T[1]}
    # next cycle: the child proves impossible -> dropped, its parent comes back for re-evaluation
    later = plan_adaptation(new_pool, {child: 0.0, T[0]: 0.4}, TaskPoolParams(new_tasks_per_generation=0), 3, 10)
    assert later.discarded == (child,) and later.reinstated == (T[1],)
    assert later.pool.active == (T[0], T[1]) and later.pool.limbo == {}


def test_all_impossible_pool_is_kept_and_adapted_easier() -> None:
    pool = TaskPool().with_tasks(T[:2])
    plan = plan_adaptation(pool, {T[0]: 0.0, T[1]: 0.0}, TaskPoolParams(new_tasks_per_generation=3), 0, 5)
    assert plan.discarded == ()
    assert {r.kind for r in plan.requests} == {"easier"}


def test_prune_is_fifo_and_reserved_numbers_are_checked() -> None:
    pool = TaskPool().with_tasks(T)
    assert prune(pool, 3).active == tuple(T[2:])
    plan = plan_adaptation(pool, {t: 0.3 for t in T}, TaskPoolParams(new_tasks_per_generation=1), 0, 5)
    with pytest.raises(ValueError, match="reserved number"):
        apply_adaptation(plan, {plan.requests[0].number: task_id(999, "x")}, P)


def test_pool_growth_keeps_canonical_order_and_bounds() -> None:
    pool = TaskPool().with_tasks(T)
    plan = plan_adaptation(pool, {t: 0.3 for t in T}, P, 0, 5)  # medium -> novel, nobody parked
    created = {r.number: task_id(r.number, f"n{r.number}") for r in plan.requests}
    new_pool, to_eval = apply_adaptation(plan, created, P)
    assert len(new_pool.active) == P.max_pool_size
    assert list(new_pool.active) == canonical_task_order(new_pool.active)
    assert task_number(new_pool.active[0]) == 8  # 5 old + 8 new -> oldest 7 pruned
    assert set(to_eval) <= set(new_pool.active)


def test_pass_rates_over_the_active_pool() -> None:
    pool = TaskPool().with_tasks(T[:3])
    rates = pool_pass_rates(pool, [{T[0]: 1.0, T[1]: None}, {T[0]: 0.0}])
    assert rates[T[0]] == 0.5 and rates[T[1]] == 0.0 and math.isnan(rates[T[2]])


def test_round_trip_and_bad_params() -> None:
    pool = TaskPool(tuple(T[:2]), 7, {T[1]: T[0]})
    assert TaskPool.from_dict(pool.to_dict()) == pool
    with pytest.raises(ValueError, match="counter"):
        TaskPool.from_dict({"active": T, "counter": 2, "limbo": {}})
    with pytest.raises(UserError):
        TaskPoolParams(easy_threshold=0.2, hard_threshold=0.5)
