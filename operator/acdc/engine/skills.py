"""From per-task scores to boolean skill vectors, pass rates and difficulty weights.

A model's raw record is ``{task_id: score}`` with score in [0, 1], or ``None`` when
scoring failed (kept distinguishable in stored records, but counted as not solved
here, like the reference's missing entries). The skill threshold defaults to the reference's
``acdc_skill_threshold`` (solved iff score >= ``SOLVED_THRESHOLD``, 0.5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from acdc.engine.solved import SOLVED_THRESHOLD

Scores = Mapping[str, float | None]


def skill_matrix(
    scores: Sequence[Scores], task_ids: Sequence[str], threshold: float = SOLVED_THRESHOLD
) -> np.ndarray:
    """Boolean (models x tasks) matrix in the given (canonical) task order.

    Missing and ``None`` entries are False: a task a model was not (successfully)
    scored on cannot count as a skill it holds.
    """
    column = {tid: j for j, tid in enumerate(task_ids)}
    matrix = np.zeros((len(scores), len(task_ids)), dtype=bool)
    for i, record in enumerate(scores):
        for tid, value in record.items():
            j = column.get(tid)
            if j is not None and value is not None and value >= threshold:
                matrix[i, j] = True
    return matrix


def fitness(record: Scores, task_ids: Sequence[str], threshold: float = SOLVED_THRESHOLD) -> float:
    """Pass rate over ``task_ids`` (the active pool).

    The reference averages the stored 0/1 scores; thresholding first gives the same
    number for binary scores and keeps partial-credit scores from leaking into it.
    Tasks missing from the record count as failed; an empty pool gives 0.
    """
    if not task_ids:
        return 0.0
    solved = sum(1 for tid in task_ids if (v := record.get(tid)) is not None and v >= threshold)
    return solved / len(task_ids)


def pass_rates(
    scores: Sequence[Scores], task_ids: Sequence[str], threshold: float = SOLVED_THRESHOLD
) -> np.ndarray:
    """Per task: models that solve it / models that have an entry for it (NaN if none).

    As in the reference (``_calculate_task_pass_rates``) the denominator counts only
    models evaluated on the task, so a freshly added task is judged by those who saw
    it; a ``None`` (failed scoring) entry counts as evaluated and failed.
    """
    solved = np.zeros(len(task_ids))
    seen = np.zeros(len(task_ids))
    for record in scores:
        for j, tid in enumerate(task_ids):
            if tid in record:
                seen[j] += 1
                value = record[tid]
                if value is not None and value >= threshold:
                    solved[j] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen > 0, solved / np.maximum(seen, 1), np.nan)


def failure_counts(skills: np.ndarray) -> np.ndarray:
    """Per task, how many models of the population fail it (integer weights numerator)."""
    counts: np.ndarray = skills.shape[0] - skills.sum(axis=0, dtype=np.int64)
    return counts


def difficulty_weights(skills: np.ndarray) -> np.ndarray:
    """Reference difficulty weight w_t: the fraction of the population failing task t.

    Tasks everyone solves weigh 0, tasks everyone fails weigh 1. An empty population
    gives an empty-safe vector of zeros.
    """
    if skills.shape[0] == 0:
        return np.zeros(skills.shape[1])
    weights: np.ndarray = failure_counts(skills) / skills.shape[0]
    return weights
