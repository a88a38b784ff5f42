"""Task forces: N archive models that together cover the most tasks, and best-of-N answers.

Coverage (the paper's metric) of a set M over tasks S is |{s : some m in M solves s}| / |S|
(an oracle pass@N across models). Selection is greedy max-coverage as in the reference
(``greedy_model_selection``), or exact by enumerating combinations for small N.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from acdc.errors import UserError

MAX_EXACT_COMBINATIONS = 2_000_000


def coverage(skills: np.ndarray, members: Sequence[int]) -> float:
    """Fraction of tasks (columns) solved by at least one of ``members`` (rows)."""
    skills = np.asarray(skills, dtype=bool)
    if skills.shape[1] == 0:
        return 0.0
    if not members:
        return 0.0
    return float(skills[list(members)].any(axis=0).mean())


def majority_accuracy(skills: np.ndarray, members: Sequence[int]) -> float:
    """Fraction of tasks solved by more than half of ``members`` (the paper's majority vote)."""
    skills = np.asarray(skills, dtype=bool)
    if skills.shape[1] == 0 or not members:
        return 0.0
    return float((skills[list(members)].sum(axis=0) > len(members) / 2).mean())


def _check(skills: np.ndarray, n: int, forced: Sequence[int]) -> np.ndarray:
    skills = np.asarray(skills, dtype=bool)
    if n < 1 or n > skills.shape[0]:
        raise UserError(f"task force size must be between 1 and the number of models ({skills.shape[0]}), got {n}")
    if len(set(forced)) != len(forced) or len(forced) > n:
        raise UserError(f"forced members {list(forced)} must be distinct and at most {n}")
    if any(not 0 <= f < skills.shape[0] for f in forced):
        raise UserError(f"forced members {list(forced)} are not all model indices")
    return skills


def greedy_task_force(skills: np.ndarray, n: int, forced: Sequence[int] = ()) -> list[int]:
    """Greedy max-coverage: repeatedly add the model covering most not-yet-covered tasks.

    Ties go to the lowest index (the reference sorts candidates by name first). When
    nothing is left to cover, the reference repeats the last pick; duplicates make no
    sense in a task force, so we add the model that solves most tasks instead.
    """
    skills = _check(skills, n, forced)
    chosen = list(forced)
    covered = skills[chosen].any(axis=0) if chosen else np.zeros(skills.shape[1], dtype=bool)
    solved = skills.sum(axis=1)
    while len(chosen) < n:
        gains = (skills & ~covered).sum(axis=1)
        key = gains * (skills.shape[1] + 1) + np.where(gains == 0, solved, 0)
        key[chosen] = -1
        best = int(np.argmax(key))
        chosen.append(best)
        covered |= skills[best]
    return chosen


def exact_task_force(skills: np.ndarray, n: int, forced: Sequence[int] = ()) -> list[int]:
    """The best-coverage set by enumeration (ties: lexicographically first); small N only."""
    skills = _check(skills, n, forced)
    rest = [i for i in range(skills.shape[0]) if i not in set(forced)]
    free = n - len(forced)
    if math.comb(len(rest), free) > MAX_EXACT_COMBINATIONS:
        raise UserError(f"exact task force over C({len(rest)}, {free}) combinations is too large; use greedy")
    best: tuple[int, ...] = ()
    best_covered = -1
    base = skills[list(forced)].any(axis=0) if forced else np.zeros(skills.shape[1], dtype=bool)
    for combo in itertools.combinations(rest, free):
        covered = int((base | skills[list(combo)].any(axis=0)).sum()) if combo else int(base.sum())
        if covered > best_covered:
            best, best_covered = combo, covered
    return [*forced, *best]


def majority_vote(answers: Sequence[str | None], normalize: Callable[[str], str] = str.strip) -> int | None:
    """Index of an answer holding the most common extracted value (first holder on ties).

    ``None`` answers (nothing extractable) do not vote; all None gives None.
    """
    keys = [None if a is None else normalize(a) for a in answers]
    counts = Counter(k for k in keys if k is not None)
    if not counts:
        return None
    top = max(counts.values())
    for i, k in enumerate(keys):
        if k is not None and counts[k] == top:
            return i
    raise AssertionError("unreachable: a counted key must occur")


class Judge(Protocol):
    """Picks the best of several candidate answers (an LLM judge, a reward model...)."""

    def choose(self, question: str, candidates: Sequence[str]) -> int | None:
        """Index into ``candidates``, or None when the judge gave no usable verdict."""
        ...


def judge_select(question: str, answers: Sequence[str], judge: Judge, rng: np.random.Generator) -> int:
    """Best-of-N through a judge, as the reference's single-call ("monarchical") selection.

    Identical answers need no call; an unusable verdict falls back to a seeded random pick.
    """
    if not answers:
        raise UserError("best-of-N selection needs at least one answer")
    if len(set(answers)) == 1:
        return int(rng.integers(len(answers)))
    verdict = judge.choose(question, answers)
    if verdict is None or not 0 <= verdict < len(answers):
        return int(rng.integers(len(answers)))
    return verdict
