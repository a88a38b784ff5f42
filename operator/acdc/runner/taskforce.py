"""`acdc taskforce DIR --size N`: the N archive models that together cover most active tasks.

This is the run's deliverable in the paper's sense: not one best model but a small set
whose union of skills is widest. Coverage is measured on the run's own active pool
(the newest committed one); a model from an older archive (``--all-generations``) is
judged by the scores it had, so tasks added after it left the archive count as unsolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from acdc.engine.archive import ArchiveMember
from acdc.engine.ids import is_seed_model
from acdc.engine.skills import skill_matrix
from acdc.engine.taskforce import coverage, exact_task_force, greedy_task_force
from acdc.errors import UserError
from acdc.phases.run_models import starting_ids
from acdc.runner.snapshot import RunSnapshot, resolved_members

Method = Literal["greedy", "exact"]


@dataclass(frozen=True)
class ForceMember:
    model_id: str
    model_path: str
    solved: int
    fitness: float


@dataclass(frozen=True)
class TaskForce:
    """The chosen models (pick order), their joint coverage, and what it was measured on."""

    members: tuple[ForceMember, ...]
    coverage: float
    tasks: int
    candidates: int
    generation: int

    def to_dict(self) -> dict[str, object]:
        return {
            "generation": self.generation,
            "tasks": self.tasks,
            "candidates": self.candidates,
            "coverage": self.coverage,
            "members": [vars(m) for m in self.members],
        }


def candidates(snapshot: RunSnapshot, all_generations: bool = False, evolved_only: bool = False) -> list[ArchiveMember]:
    """The newest archive, or every model any archive ever held (newest record of each).

    Models whose weights were garbage-collected are left out: a task force must be usable.
    ``evolved_only`` drops the seed models, to see what evolution alone produced.
    """
    snapshot.require_archive()
    members: list[ArchiveMember] = list(snapshot.archive)
    if all_generations:
        newest: dict[str, ArchiveMember] = {}
        for generation in snapshot.state.committed_generations():
            for member in resolved_members(snapshot.state, generation):
                newest[member.model_id] = member
        members = [m for m in newest.values() if Path(m.model_path).exists()]
    return [m for m in members if not (evolved_only and is_seed_model(m.model_id))]


def pick_task_force(snapshot: RunSnapshot, size: int, method: Method = "greedy",
                    all_generations: bool = False, evolved_only: bool = False) -> TaskForce:
    """Greedy max-coverage (the reference's) or exact enumeration over the candidates."""
    pool = candidates(snapshot, all_generations, evolved_only)
    if size > len(pool):
        raise UserError(f"--size {size} is larger than the {len(pool)} candidate models")
    tasks = list(snapshot.pool.active)
    skills = skill_matrix([m.scores for m in pool], tasks, snapshot.threshold)
    choose = greedy_task_force if method == "greedy" else exact_task_force
    chosen = choose(skills, size)
    assert snapshot.generation is not None
    return TaskForce(
        members=tuple(ForceMember(pool[i].model_id, pool[i].model_path, int(skills[i].sum()),
                                  round(pool[i].fitness, 6)) for i in chosen),
        coverage=round(coverage(skills, chosen), 6),
        tasks=len(tasks),
        candidates=len(pool),
        generation=snapshot.generation,
    )


def unscored_starting(snapshot: RunSnapshot) -> list[str]:
    """Starting models without generation-0 scores (``seedsInArchive: false``, or a lost
    scores file): ``pick_starting_team`` cannot choose them, so its team is a weaker
    yardstick than the models the run started from, and comparisons with it must say so."""
    return [m for m in starting_ids(snapshot.run.spec) if not snapshot.state.has_scores(0, m)]


def pick_starting_team(snapshot: RunSnapshot, size: int) -> list[str]:
    """The best ``size`` of the models the run started from (seeds, and the base when it is a
    candidate), by greedy coverage of the generation-0 pool: the yardstick a task force must beat.

    Generation 0's pool is the one every starting model was evaluated on; a later pool holds
    tasks written after some of them left the archive, which would count against them unfairly.
    Starting models without generation-0 scores (``unscored_starting``) are left out.
    """
    state = snapshot.state
    unscored = unscored_starting(snapshot)
    ids = [m for m in starting_ids(snapshot.run.spec) if m not in unscored]
    tasks = list(state.load_pool(0).active)
    skills = skill_matrix([state.load_scores(0, m) for m in ids], tasks, snapshot.threshold)
    return [ids[i] for i in greedy_task_force(skills, min(size, len(ids)))] if ids else []


def render_task_force(force: TaskForce) -> str:
    lines = [(f"task force of {len(force.members)} (from {force.candidates} models, "
              f"generation {force.generation}): coverage {force.coverage:.3f} of {force.tasks} active tasks")]
    lines += [f"  {m.model_id:<24} solves {m.solved:>4}  fitness {m.fitness:.3f}  {m.model_path}"
              for m in force.members]
    return "\n".join(lines)
