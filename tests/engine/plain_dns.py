"""A plain per-pair Python DNS, written straight from the reference formulas (sec. 3.3-3.5).

It is the oracle the vectorised engine is checked against in tests and the baseline
``bench/bench_dns.py`` times. It walks the population in list order with the
reference's "fittest found" flag and computes every distance with float weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PlainParams:
    k_neighbors: int = 3
    dominated_score: float = 999.0
    use_skill_ratio: bool = True
    use_difficulty_weights: bool = True
    skill_ratio_to_full: bool = True


def plain_weights(skills: Sequence[Sequence[bool]]) -> list[float]:
    n = len(skills)
    n_tasks = len(skills[0]) if n else 0
    return [sum(1 for s in skills if not s[t]) / n for t in range(n_tasks)]


def plain_distance(x: Sequence[bool], y: Sequence[bool], weights: Sequence[float], p: PlainParams) -> float:
    n_tasks = len(x)
    if not p.use_skill_ratio:
        return float(sum(1 for t in range(n_tasks) if x[t] != y[t]))
    w = weights if p.use_difficulty_weights else [1.0] * n_tasks
    only_x = sum(w[t] for t in range(n_tasks) if x[t] and not y[t])
    if p.skill_ratio_to_full:
        denominator = sum(w)
    else:
        denominator = sum(w[t] for t in range(n_tasks) if not y[t])
    return only_x / denominator * 100.0 if denominator > 0 else 0.0  # the reference's order of operations


def plain_row_score(
    i: int,
    skills: Sequence[Sequence[bool]],
    fitness: Sequence[float],
    weights: Sequence[float],
    fittest_found: bool,
    p: PlainParams,
) -> float | None:
    """Score of row i, or None when it has no fitter solution (the caller flips its flag)."""
    n = len(skills)
    if fittest_found:
        fitter = [j for j in range(n) if j != i and fitness[j] >= fitness[i]]
    else:
        fitter = [j for j in range(n) if fitness[j] > fitness[i]]
    if not fitter:
        return None
    nearest = sorted(plain_distance(skills[i], skills[j], weights, p) for j in fitter)[: p.k_neighbors]
    return sum(nearest) / len(nearest)


def plain_dns_scores(skills: Sequence[Sequence[bool]], fitness: Sequence[float], **params: object) -> list[float]:
    p = PlainParams(**params)  # type: ignore[arg-type]
    weights = plain_weights(skills)
    scores: list[float] = []
    fittest_found = False
    for i in range(len(skills)):
        score = plain_row_score(i, skills, fitness, weights, fittest_found, p)
        if score is None:
            score, fittest_found = p.dominated_score, True
        scores.append(score)
    return scores


def plain_truncate(scores: Sequence[float], size: int) -> list[int]:
    return sorted(range(len(scores)), key=lambda i: scores[i], reverse=True)[:size]
