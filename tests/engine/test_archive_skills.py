"""Skill vectors, fitness, pass rates, ids, and the select step over archive members."""

from __future__ import annotations

import numpy as np
import pytest

from acdc.engine.archive import (
    ArchiveMember,
    missing_tasks,
    select_survivors,
    with_scores,
)
from acdc.engine.dns import DNSParams
from acdc.engine.ids import (
    canonical_task_order,
    is_seed_model,
    model_generation,
    seed_model_id,
    task_id,
)
from acdc.engine.skills import difficulty_weights, fitness, pass_rates, skill_matrix
from acdc.errors import UserError

T = [task_id(n, name) for n, name in [(3, "Sort list"), (1, "add"), (2, "rev")]]


def test_ids_and_canonical_order() -> None:
    assert T[0] == "task_000003_sort_list"
    assert canonical_task_order(T) == [T[1], T[2], T[0]]
    assert model_generation("gen_0012_ind_03") == 12 and model_generation(seed_model_id("math")) is None
    assert is_seed_model("seed_math") and not is_seed_model("gen_0001_ind_00")
    with pytest.raises(UserError, match="share number"):
        canonical_task_order([task_id(1, "a"), task_id(1, "b")])
    with pytest.raises(UserError):
        model_generation("gen_1_ind_x")


def test_skill_matrix_threshold_none_and_missing() -> None:
    order = canonical_task_order(T)
    scores = [{order[0]: 0.5, order[1]: None}, {order[0]: 0.49, order[2]: 1.0, "task_000099_gone": 1.0}]
    assert skill_matrix(scores, order).tolist() == [[True, False, False], [False, False, True]]
    assert fitness(scores[0], order) == pytest.approx(1 / 3)
    assert fitness({}, []) == 0.0
    rates = pass_rates(scores, order)
    assert rates[0] == 0.5 and rates[1] == 0.0 and rates[2] == 1.0
    assert np.isnan(pass_rates(scores, [task_id(7, "new")])[0])
    assert difficulty_weights(skill_matrix(scores, order)).tolist() == [0.5, 1.0, 0.5]


def _member(i: int, solved: list[int], gen: int = 1) -> ArchiveMember:
    order = canonical_task_order(T)
    mid = f"gen_{gen:04d}_ind_{i:02d}"
    return ArchiveMember(mid, f"models/{mid}", 0.0, {t: float(j in solved) for j, t in enumerate(order)})


def test_select_survivors_recomputes_fitness_and_reports_evictions() -> None:
    archive = [_member(0, [0, 1]), _member(1, [0])]
    children = [_member(0, [0, 1, 2], gen=2), _member(1, [0], gen=2)]
    out = select_survivors(archive, children, T, DNSParams(population_size=3))
    assert out.survivors[0].model_id == "gen_0002_ind_00" and out.survivors[0].fitness == 1.0
    assert out.scores["gen_0002_ind_00"] == 999.0
    assert len(out.evicted) == 1 and set(out.scores) == {m.model_id for m in archive + children}
    with pytest.raises(ValueError, match="twice"):
        select_survivors(archive, archive, T, DNSParams())


def test_sync_drops_inactive_merges_new_and_lists_missing() -> None:
    order = canonical_task_order(T)
    member = _member(0, [0, 1])
    active = [order[1], order[2], task_id(9, "new")]
    assert missing_tasks(member, active) == [task_id(9, "new")]
    synced = with_scores(member, {task_id(9, "new"): None}, active)
    assert set(synced.scores) == set(active) and synced.scores[task_id(9, "new")] is None
    assert synced.fitness == pytest.approx(1 / 3)
    assert ArchiveMember.from_dict(synced.to_dict()) == synced
