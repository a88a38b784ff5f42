"""Vendi score of the task pool: the effective number of distinct tasks, per generation.

Vendi (Friedman & Dieng) is exp of the Shannon entropy of the eigenvalues of K/n, where K
is the n x n similarity matrix of the items; with cosine similarity of unit embeddings,
n identical tasks score 1 and n orthogonal ones score n. Two curves: *local* over the
generation's active pool, *cumulative* over every task any pool held up to then. The
embeddings are the ones the run already computed (its novelty store), so no model runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


def vendi_score(vectors: np.ndarray) -> float:
    """Vendi score of the rows of ``vectors`` under cosine similarity (0 for no rows)."""
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        return 0.0
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms == 0, 1.0, norms)
    eigenvalues = np.linalg.eigvalsh(x @ x.T / len(x))
    positive = eigenvalues[eigenvalues > 1e-12]
    return float(np.exp(-(positive * np.log(positive)).sum()))


@dataclass(frozen=True)
class DiversityPoint:
    generation: int
    local: float
    cumulative: float
    tasks: int
    cumulative_tasks: int


def diversity_curve(pools: Mapping[int, Sequence[str]], ids: Sequence[str], vectors: np.ndarray) -> list[DiversityPoint]:
    """Local and cumulative Vendi scores per generation; tasks without an embedding are left out."""
    row = {task: i for i, task in enumerate(ids)}
    seen: dict[str, None] = {}
    points = []
    for generation in sorted(pools):
        active = [row[t] for t in pools[generation] if t in row]
        seen |= dict.fromkeys(t for t in pools[generation] if t in row)
        ever = [row[t] for t in seen]
        points.append(DiversityPoint(generation, round(vendi_score(vectors[active]), 6),
                                     round(vendi_score(vectors[ever]), 6), len(active), len(ever)))
    return points
