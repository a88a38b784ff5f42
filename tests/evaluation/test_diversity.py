"""Vendi scores of task embeddings against the reference package and closed-form cases."""

from __future__ import annotations

import numpy as np
import pytest
from vendi_score import vendi

from acdc.evaluation.diversity import diversity_curve, vendi_score


def test_closed_forms() -> None:
    assert vendi_score(np.tile([[1.0, 2.0, 0.5]], (5, 1))) == pytest.approx(1.0)
    assert vendi_score(np.eye(4)) == pytest.approx(4.0)
    assert vendi_score(np.zeros((0, 3))) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_the_vendi_score_package(seed: int) -> None:
    x = np.random.default_rng(seed).normal(size=(7, 5))
    assert vendi_score(x) == pytest.approx(float(vendi.score_X(x)), rel=1e-9)
    # and a direct eigenvalue computation of exp(entropy(eig(K/n))) with cosine K
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    eig = np.linalg.eigvalsh(unit @ unit.T / len(x))
    eig = eig[eig > 1e-12]
    assert vendi_score(x) == pytest.approx(float(np.exp(-(eig * np.log(eig)).sum())))


def test_local_and_cumulative_curves() -> None:
    ids = ["t1", "t2", "t3", "t4"]
    vectors = np.eye(4)
    pools = {0: ["t1", "t2"], 1: ["t2", "t3", "gone"], 2: ["t3"]}
    points = diversity_curve(pools, ids, vectors)
    assert [(p.generation, p.tasks, p.cumulative_tasks) for p in points] == [(0, 2, 2), (1, 2, 3), (2, 1, 3)]
    assert [p.local for p in points] == pytest.approx([2.0, 2.0, 1.0])
    assert [p.cumulative for p in points] == pytest.approx([2.0, 3.0, 3.0])
