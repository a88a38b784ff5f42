"""A read-only view of a state folder as of its newest committed generation.

`acdc status`, `acdc taskforce`, `acdc report` and the held-out comparison all start
from the same question: which run is this, and what did its last commit record say?
They only read committed records (an archive exists only once its generation is
complete), so they can look at a folder while `acdc run` is still writing to it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from acdc.engine.archive import ArchiveMember
from acdc.engine.state import RunState
from acdc.engine.taskpool import TaskPool
from acdc.errors import StateError, UserError
from acdc.spec import CoevolutionRun, load_run


@dataclass(frozen=True)
class RunSnapshot:
    """The run's spec and its newest committed archive and pool (None before generation 0 commits)."""

    root: Path
    run: CoevolutionRun
    generation: int | None
    archive: tuple[ArchiveMember, ...]
    pool: TaskPool

    @property
    def state(self) -> RunState:
        return RunState(self.root)

    @property
    def threshold(self) -> float:
        return self.run.spec.selection.skill_threshold

    @property
    def name(self) -> str:
        return self.run.metadata.name

    def require_archive(self) -> None:
        """Commands that need models fail clearly on a run that has not committed anything, or
        whose newest commit record holds no model."""
        if self.generation is None:
            raise UserError(f"{self.root}: no generation has been committed yet; wait for `acdc run` to finish generation 0")
        if not self.archive:
            raise StateError(self.state.archive_file(self.generation),
                             f"the committed archive of generation {self.generation} holds no model: every model "
                             "was dropped, or the file is damaged")


def open_snapshot(root: Path) -> RunSnapshot:
    """Open ``root`` read-only; a missing folder or a folder `acdc run` never used is a UserError."""
    if not root.exists():
        raise UserError(f"{root}: no such state folder")
    if not root.is_dir():
        raise UserError(f"{root}: not a directory")
    state = RunState(root)
    if not state.run_file.is_file():
        raise UserError(f"{root}: not an acdc state folder (no run.yaml); pass the --state folder of `acdc run`")
    if not state.layout_file.exists() and not state.load_steps():  # init writes it: missing after any step is damage
        raise UserError(f"{root}: the run has not finished its first step yet")
    state.check_layout()  # as `acdc verify` and `acdc run` do: a damaged one stops every command
    run = load_run(state.run_file)
    generation = state.latest_generation()
    if generation is None:
        return RunSnapshot(root, run, None, (), TaskPool())
    return RunSnapshot(root, run, generation, tuple(resolved_members(state, generation)), state.load_pool(generation))


def resolved_members(state: RunState, generation: int) -> list[ArchiveMember]:
    """Archive members with usable model paths (records keep children relative to the state).

    Absolute, so the paths stay usable from any working directory and resolving them again
    (``RunState.resolve_model``) leaves them as they are: with ``--state runs/x`` a relative
    result would be joined to the state folder a second time."""
    return [replace(m, model_path=str(state.resolve_model(m.model_path).absolute()))
            for m in state.load_archive(generation)]
