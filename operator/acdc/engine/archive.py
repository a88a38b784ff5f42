"""Archive members and the select step: scores -> skills -> DNS -> survivors.

The select phase calls ``select_survivors`` with the previous archive and this
generation's evaluated children; the re-evaluation/sync step calls ``missing_tasks``
and ``with_scores`` to bring every member onto the current active pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from acdc.engine.dns import DNSParams, update_archive
from acdc.engine.ids import canonical_task_order, is_seed_model, model_generation
from acdc.engine.skills import fitness, skill_matrix
from acdc.engine.solved import SOLVED_THRESHOLD


@dataclass(frozen=True)
class ArchiveMember:
    """One model in the archive. ``scores`` keeps None for failed scoring (not solved)."""

    model_id: str
    model_path: str
    fitness: float
    scores: Mapping[str, float | None] = field(default_factory=dict)
    parents: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        model_generation(self.model_id)  # validates the id

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "model_path": self.model_path,
            "fitness": self.fitness,
            "parents": list(self.parents),
            "scores": {tid: self.scores[tid] for tid in canonical_task_order(self.scores)},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArchiveMember:
        scores = data["scores"]
        if not isinstance(scores, dict) or not all(v is None or _rate(v) for v in scores.values()):
            raise ValueError("scores must map task ids to numbers in [0, 1] or null")
        path = _stored_path(str(data["model_id"]), str(data["model_path"]))
        if not _rate(data["fitness"]):  # a NaN would win every comparison it takes part in
            raise ValueError(f"fitness must be a number in [0, 1], not {str(data['fitness'])[:40]}")
        return cls(
            model_id=str(data["model_id"]),
            model_path=path,
            fitness=float(data["fitness"]),
            scores={str(k): (None if v is None else float(v)) for k, v in scores.items()},
            parents=tuple(str(p) for p in data["parents"]),
        )


def _stored_path(model_id: str, path: str) -> str:
    """``path`` if it is where a record may point ``model_id``: a child at its own folder of the
    state (``models/<id>``); only a starting model (a seed, the base as a candidate: ``seed_*``
    ids), which init found where the user keeps it, may be an absolute folder elsewhere. So a
    tampered record cannot make `acdc verify` pass, or `acdc taskforce` list, a foreign folder."""
    own = f"models/{model_id}"
    if path == own or (is_seed_model(model_id) and Path(path).is_absolute()):
        return path
    where = f"an absolute folder or {own}" if is_seed_model(model_id) else f"{own} (an evolved model's own folder)"
    raise ValueError(f"model_path {path[:80]!r} of {model_id[:80]} must be {where}")


def _rate(value: Any) -> bool:
    """A pass rate as a state file may hold one: a finite number in [0, 1], not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def with_scores(
    member: ArchiveMember,
    new_scores: Mapping[str, float | None],
    active_tasks: Sequence[str],
    threshold: float = SOLVED_THRESHOLD,
) -> ArchiveMember:
    """Merge re-evaluation results, drop tasks no longer active, and recompute fitness.

    The reference only recomputes fitness when something was re-evaluated, so fitness
    goes stale when tasks are merely removed; here it always matches the active pool.
    """
    active = set(active_tasks)
    merged = {tid: v for tid, v in {**member.scores, **new_scores}.items() if tid in active}
    return replace(member, scores=merged, fitness=fitness(merged, active_tasks, threshold))


def missing_tasks(member: ArchiveMember, active_tasks: Sequence[str]) -> list[str]:
    """Active tasks this member was never scored on, in canonical order (what to re-evaluate)."""
    return [tid for tid in canonical_task_order(active_tasks) if tid not in member.scores]


@dataclass(frozen=True)
class SelectionOutcome:
    """Survivors (rank order), every candidate's survival score, and who was evicted."""

    survivors: tuple[ArchiveMember, ...]
    scores: Mapping[str, float]
    evicted: tuple[str, ...]


def select_survivors(
    archive: Sequence[ArchiveMember],
    children: Sequence[ArchiveMember],
    active_tasks: Sequence[str],
    params: DNSParams,
    threshold: float = SOLVED_THRESHOLD,
) -> SelectionOutcome:
    """DNS (or top-fitness) over archive + children, in that order (the reference's order).

    Every candidate's fitness is recomputed over the active pool first, so the
    comparison uses one consistent definition for survivors and newcomers.
    """
    population = [with_scores(m, {}, active_tasks, threshold) for m in (*archive, *children)]
    ids = [m.model_id for m in population]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"model ids appear twice in archive + children: {dup}")
    order = canonical_task_order(active_tasks)
    skills = skill_matrix([m.scores for m in population], order, threshold)
    selection = update_archive(skills, np.array([m.fitness for m in population]), params)
    return SelectionOutcome(
        survivors=tuple(population[i] for i in selection.survivors),
        scores={ids[i]: s for i, s in enumerate(selection.scores)},
        evicted=tuple(ids[i] for i in selection.evicted()),
    )
