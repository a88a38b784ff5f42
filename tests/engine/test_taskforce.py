"""Task forces: greedy vs exact coverage, metrics, majority vote, judge hook."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acdc.engine.rng import generator
from acdc.engine.taskforce import (
    coverage,
    exact_task_force,
    greedy_task_force,
    judge_select,
    majority_accuracy,
    majority_vote,
)
from acdc.errors import UserError


def _bits(*rows: str) -> np.ndarray:
    return np.array([[c == "1" for c in r] for r in rows], dtype=bool)


def test_greedy_is_suboptimal_where_exact_is_not() -> None:
    # classic trap: the biggest set first blocks the two complementary halves
    skills = _bits("111100", "111000", "000111")
    assert greedy_task_force(skills, 2) == [0, 2]  # covers 6 of 6 here...
    trap = _bits("011110", "111000", "000111")
    assert coverage(trap, greedy_task_force(trap, 2)) == pytest.approx(5 / 6)
    assert exact_task_force(trap, 2) == [1, 2] and coverage(trap, [1, 2]) == 1.0


def test_forced_members_and_no_duplicates_when_all_covered() -> None:
    skills = _bits("1100", "1111", "0001", "1110")
    assert greedy_task_force(skills, 3, forced=[0]) == [0, 1, 3]  # then most-solved, no repeats
    assert exact_task_force(skills, 2, forced=[2]) == [2, 1]
    with pytest.raises(UserError):
        greedy_task_force(skills, 5)
    with pytest.raises(UserError):
        greedy_task_force(skills, 2, forced=[1, 1])


def test_metrics() -> None:
    skills = _bits("1100", "1010", "0000")
    assert coverage(skills, [0, 1]) == 0.75
    assert majority_accuracy(skills, [0, 1, 2]) == 0.25
    assert coverage(skills, []) == 0.0


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(0, 8), st.data())
def test_exact_is_optimal_and_bounds_greedy(n_models: int, n_tasks: int, data: st.DataObject) -> None:
    flat = data.draw(st.lists(st.booleans(), min_size=n_models * n_tasks, max_size=n_models * n_tasks))
    skills = np.array(flat, dtype=bool).reshape(n_models, n_tasks)
    n = data.draw(st.integers(1, n_models))
    best = max(coverage(skills, c) for c in itertools.combinations(range(n_models), n))
    exact, greedy = exact_task_force(skills, n), greedy_task_force(skills, n)
    assert coverage(skills, exact) == best
    assert len(set(greedy)) == n and coverage(skills, greedy) <= best
    assert coverage(skills, greedy) >= (1 - 1 / np.e) * best - 1e-12  # greedy max-coverage guarantee


def test_majority_vote() -> None:
    assert majority_vote(["42", " 7", "7 ", None]) == 1
    assert majority_vote(["a", "b"]) == 0
    assert majority_vote([None, None]) is None


class ScriptedJudge:
    def __init__(self, verdict: int | None) -> None:
        self.verdict, self.calls = verdict, 0

    def choose(self, question: str, candidates: Sequence[str]) -> int | None:
        self.calls += 1
        return self.verdict


def test_judge_selection_hook() -> None:
    judge = ScriptedJudge(2)
    assert judge_select("q", ["a", "b", "c"], judge, generator(0, "bon")) == 2 and judge.calls == 1
    same = ScriptedJudge(0)
    judge_select("q", ["x", "x"], same, generator(0, "bon"))
    assert same.calls == 0
    bad = ScriptedJudge(9)
    picks = {judge_select("q", ["a", "b", "c"], bad, generator(s, "bon")) for s in range(20)}
    assert picks <= {0, 1, 2} and len(picks) > 1
    assert judge_select("q", ["a", "b", "c"], bad, generator(5, "bon")) == judge_select(
        "q", ["a", "b", "c"], bad, generator(5, "bon")
    )
