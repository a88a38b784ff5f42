"""The numbers behind each plot of the report, read from committed records only.

Each collector returns plain data (no markup), so what the report shows can be checked
against the state folder independently of how it is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from acdc.atomic import read_json
from acdc.engine.ids import model_generation
from acdc.engine.state import RunState
from acdc.evaluation.diversity import task_embeddings
from acdc.phases.select import summary
from acdc.report.status import band_counts
from acdc.runner.snapshot import RunSnapshot

LINEAGE_TOP = 3


@dataclass(frozen=True)
class GenerationRow:
    generation: int
    best_fitness: float
    mean_fitness: float
    coverage: float
    pool: int
    bands: dict[str, int]


def generation_rows(snapshot: RunSnapshot) -> list[GenerationRow]:
    """Per committed generation: fitness, coverage of its own pool, and the pool's bands."""
    rows = []
    spec = snapshot.run.spec
    for g in snapshot.state.committed_generations():
        members, pool = snapshot.state.load_archive(g), snapshot.state.load_pool(g)
        s = summary(members, pool, snapshot.threshold)
        rows.append(GenerationRow(g, s["bestFitness"] or 0.0, s["meanFitness"] or 0.0, s["coverage"], s["pool"],
                                  band_counts(members, pool, spec)))
    return rows


@dataclass(frozen=True)
class SkillMap:
    models: list[str]
    tasks: list[str]
    values: list[list[float | None]]


def skill_map(snapshot: RunSnapshot) -> SkillMap:
    """Newest archive (fittest first) x its active tasks; None where a model has no score."""
    members = sorted(snapshot.archive, key=lambda m: (-m.fitness, m.model_id))
    tasks = list(snapshot.pool.active)
    return SkillMap([m.model_id for m in members], tasks, [[m.scores.get(t) for t in tasks] for m in members])


@dataclass(frozen=True)
class TaskPoint:
    task_id: str
    generation: int
    x: float
    y: float


def _task_generation(task: Path) -> int:
    meta = task / "metadata.json"
    return int(read_json(meta).get("generation") or 0) if meta.exists() else 0


def pca_2d(matrix: np.ndarray) -> np.ndarray:
    """First two principal components (numpy SVD of the centred rows); zeros pad a 1-D case."""
    centred = matrix - matrix.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    projected: np.ndarray = centred @ vt[:2].T
    if projected.shape[1] < 2:
        projected = np.pad(projected, ((0, 0), (0, 2 - projected.shape[1])))
    return projected


@dataclass(frozen=True)
class Projection:
    points: list[TaskPoint]
    source: str


def task_projection(snapshot: RunSnapshot) -> Projection:
    """Every task the run created, projected to 2-D; grouped by the generation that made it."""
    ids, matrix, source = task_embeddings(snapshot.root)
    if len(ids) < 2:
        return Projection([], source)
    coords = pca_2d(np.asarray(matrix, dtype=np.float64))
    folder = RunState(snapshot.root).tasks_dir
    return Projection([TaskPoint(t, _task_generation(folder / t), float(coords[i, 0]), float(coords[i, 1]))
                       for i, t in enumerate(ids)], source)


@dataclass(frozen=True)
class Lineage:
    nodes: dict[str, tuple[int, str]] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    best: set[str] = field(default_factory=set)


def _parents_map(snapshot: RunSnapshot) -> dict[str, tuple[str, ...]]:
    """child -> parents from every plan the run wrote (children that left the archive included)."""
    parents: dict[str, tuple[str, ...]] = {}
    generations = snapshot.root / "generations"
    for folder in sorted(generations.glob("*")) if generations.is_dir() else []:
        if folder.name.isdigit() and (folder / "plan.json").is_file():
            for child in snapshot.state.load_plan(int(folder.name)):
                parents[child.child_id] = tuple(child.parents)
    return parents


def lineage(snapshot: RunSnapshot, top: int = LINEAGE_TOP) -> Lineage:
    """Ancestry of the ``top`` fittest archive models, back to the seeds."""
    members = sorted(snapshot.archive, key=lambda m: (-m.fitness, m.model_id))[:top]
    parents = _parents_map(snapshot)
    fitness: dict[str, float] = {m.model_id: m.fitness for m in snapshot.archive}
    out = Lineage(best={m.model_id for m in members})
    queue: list[str] = [m.model_id for m in members]
    while queue:
        node = queue.pop()
        if node in out.nodes:
            continue
        generation = model_generation(node)
        label = node + (f" (fitness {fitness[node]:.3f})" if node in fitness else "")
        out.nodes[node] = (-1 if generation is None else generation, label)
        for parent in parents.get(node, ()):
            out.edges.append((parent, node))
            queue.append(parent)
    return out

