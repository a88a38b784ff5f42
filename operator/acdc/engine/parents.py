"""Parent selection for the next generation's merges.

The reference picks two distinct parents uniformly at random from the archive for each
child (``rng.choice(len(archive), 2, replace=False)``); that is the default here.
Fitness-proportional and tournament selection are extra options a run spec may pick.
All draws come from a generator derived from (run seed, "parents", generation), so a
re-planned generation gets the same parents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from acdc.engine.ids import model_id
from acdc.engine.rng import derived_seed, generator
from acdc.errors import UserError

Method = Literal["uniform", "fitness_proportional", "tournament"]


@dataclass(frozen=True)
class ParentParams:
    method: Method = "uniform"
    tournament_size: int = 3

    def __post_init__(self) -> None:
        if self.method not in ("uniform", "fitness_proportional", "tournament"):
            raise UserError(
                f"parent selection method must be uniform, fitness_proportional or tournament, got {self.method!r}"
            )
        if self.tournament_size < 1:
            raise UserError(f"tournament_size must be >= 1, got {self.tournament_size}")


@dataclass(frozen=True)
class ChildPlan:
    """A merge recipe: which child to make from which parents, with which seed and settings.

    ``crossover`` and ``mutation`` are opaque to the engine (the merge phase owns them).
    """

    child_id: str
    parents: tuple[str, ...]
    seed: int
    crossover: dict[str, Any] = field(default_factory=dict)
    mutation: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "child_id": self.child_id,
            "parents": list(self.parents),
            "seed": self.seed,
            "crossover": self.crossover,
            "mutation": self.mutation,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChildPlan:
        return cls(
            child_id=str(data["child_id"]),
            parents=tuple(str(p) for p in data["parents"]),
            seed=int(data["seed"]),
            crossover=dict(data["crossover"]),
            mutation=dict(data["mutation"]),
        )


def _pick_two(rng: np.random.Generator, fitness: np.ndarray, params: ParentParams) -> tuple[int, int]:
    n = len(fitness)
    if params.method == "uniform":
        a, b = rng.choice(n, size=2, replace=False)
        return int(a), int(b)
    if params.method == "fitness_proportional":
        weights = fitness - fitness.min() + 1e-9  # shift so a zero-fitness archive stays uniform
        a, b = rng.choice(n, size=2, replace=False, p=weights / weights.sum())
        return int(a), int(b)
    chosen: list[int] = []
    for _ in range(2):
        pool = np.setdiff1d(np.arange(n), chosen)
        entrants = rng.choice(pool, size=min(params.tournament_size, len(pool)), replace=False)
        chosen.append(int(entrants[np.argmax(fitness[entrants])]))  # ties: first drawn entrant
    return chosen[0], chosen[1]


def select_parents(
    archive_ids: Sequence[str],
    fitness: Sequence[float],
    n_children: int,
    seed: int,
    generation: int,
    params: ParentParams = ParentParams(),
) -> list[tuple[str, str]]:
    """Two distinct parents per child (the same one twice only if the archive has one member)."""
    if not archive_ids:
        raise UserError("cannot pick parents: the archive is empty")
    if len(fitness) != len(archive_ids):
        raise ValueError("fitness and archive_ids differ in length")
    if len(archive_ids) == 1:
        return [(archive_ids[0], archive_ids[0])] * n_children
    rng = generator(seed, "parents", generation)
    fit = np.asarray(fitness, dtype=np.float64)
    return [tuple(archive_ids[i] for i in _pick_two(rng, fit, params)) for _ in range(n_children)]  # type: ignore[misc]


def plan_children(
    archive_ids: Sequence[str],
    fitness: Sequence[float],
    n_children: int,
    seed: int,
    generation: int,
    params: ParentParams = ParentParams(),
    crossover: dict[str, Any] | None = None,
    mutation: dict[str, Any] | None = None,
) -> list[ChildPlan]:
    """The plan phase's recipes: child ids ``gen_{g}_ind_{i}``, parents, per-child seeds."""
    pairs = select_parents(archive_ids, fitness, n_children, seed, generation, params)
    return [
        ChildPlan(
            model_id(generation, i),
            pair,
            derived_seed(seed, "merge", generation, i),
            dict(crossover or {}),
            dict(mutation or {}),
        )
        for i, pair in enumerate(pairs)
    ]
