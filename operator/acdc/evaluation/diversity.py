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
from pathlib import Path

import numpy as np

from acdc.atomic import read_json
from acdc.engine.state import RunState


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


def task_embeddings(root: Path) -> tuple[list[str], np.ndarray, str]:
    """Vectors of every task folder, and which embedding they come from.

    The novelty store holds only the tasks the filter admitted, so it is used when it
    covers every task; otherwise all task cards are embedded with the feature embedder
    (deterministic, no model), so no task is missing from the picture.
    """
    from acdc.tasks.embedders import FeatureEmbedder
    from acdc.tasks.format import is_task_dir, read_card
    from acdc.tasks.novelty import INDEX_FILE, MATRIX_FILE

    folder = RunState(root).tasks_dir
    names = sorted(p.name for p in folder.glob("*") if is_task_dir(p)) if folder.is_dir() else []
    store = RunState(root).novelty_dir
    if (store / INDEX_FILE).is_file() and (store / MATRIX_FILE).is_file():
        index = read_json(store / INDEX_FILE)
        ids = list(index["ids"])
        if set(names) <= set(ids):
            matrix = np.load(store / MATRIX_FILE, allow_pickle=False)[: len(ids)]
            return ids, matrix, f"the run's novelty store ({index.get('embedder')})"
    texts = [read_card(folder / n).embedding_text() for n in names]
    embedder = FeatureEmbedder()
    return names, embedder.embed(texts) if texts else np.zeros((0, 0)), f"{embedder.name} embeddings of the task cards"
