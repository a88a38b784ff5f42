"""Parent selection: distinct pairs, seeded determinism, option behaviour, recipes."""

from __future__ import annotations

from collections import Counter

import pytest

from acdc.engine.ids import model_id
from acdc.engine.parents import ChildPlan, ParentParams, plan_children, select_parents
from acdc.errors import UserError

IDS = [model_id(1, i) for i in range(6)]
FIT = [0.0, 0.1, 0.2, 0.3, 0.4, 1.0]


@pytest.mark.parametrize("method", ["uniform", "fitness_proportional", "tournament"])
def test_pairs_are_distinct_and_seeded(method: str) -> None:
    params = ParentParams(method=method)
    pairs = select_parents(IDS, FIT, 50, seed=9, generation=3, params=params)
    assert len(pairs) == 50 and all(a != b and {a, b} <= set(IDS) for a, b in pairs)
    assert pairs == select_parents(IDS, FIT, 50, seed=9, generation=3, params=params)
    assert pairs != select_parents(IDS, FIT, 50, seed=9, generation=4, params=params)


def test_uniform_ignores_fitness_and_biased_options_prefer_the_fit() -> None:
    def share_of_best(method: str) -> float:
        pairs = select_parents(IDS, FIT, 3000, seed=1, generation=1, params=ParentParams(method=method))
        counts = Counter(p for pair in pairs for p in pair)
        return counts[IDS[-1]] / (2 * len(pairs))

    assert share_of_best("uniform") == pytest.approx(1 / 6, abs=0.02)
    assert share_of_best("fitness_proportional") > 0.3
    assert share_of_best("tournament") > 0.3


def test_small_archives_and_bad_options() -> None:
    assert select_parents(IDS[:1], [0.5], 2, 0, 1) == [(IDS[0], IDS[0])] * 2
    with pytest.raises(UserError, match="empty"):
        select_parents([], [], 2, 0, 1)
    with pytest.raises(UserError, match="method"):
        ParentParams(method="roulette")  # type: ignore[arg-type]


def test_plan_children_ids_seeds_and_round_trip() -> None:
    plans = plan_children(IDS, FIT, 4, seed=5, generation=7, crossover={"method": "linear"})
    assert [p.child_id for p in plans] == [f"gen_0007_ind_{i:02d}" for i in range(4)]
    assert len({p.seed for p in plans}) == 4
    assert plans == plan_children(IDS, FIT, 4, seed=5, generation=7, crossover={"method": "linear"})
    assert ChildPlan.from_dict(plans[0].to_dict()) == plans[0]
