"""Set up or reopen a state folder for `acdc run`, refusing edits that would corrupt it."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from acdc.atomic import dump_yaml, write_text
from acdc.engine.state import RunState
from acdc.errors import StateError, UserError
from acdc.phases.dag import DagShape, first_incomplete_generation, run_finished
from acdc.runner.budget import stopped
from acdc.spec import CoevolutionRun, CoevolutionRunSpec, load_run, parse_run
from acdc.spec.changes import run_differences


def effective_run(run_path: Path | None, state: Path, generations: int | None) -> CoevolutionRun:
    """The run to execute: the given file (checked against the stored one) or the stored one."""
    stored_path = RunState(state).run_file
    stored = _stored_run(stored_path) if stored_path.exists() else None
    if run_path is None and stored is None:
        raise _holds_no_run(state)
    run = load_run(run_path) if run_path is not None else stored
    assert run is not None
    if stored is not None:
        differences = run_differences(stored, run)
        if differences.changed:
            raise UserError(
                f"{run_path} changes fields that cannot change mid-run ({', '.join(differences.changed)}) "
                f"compared with {stored_path}; use a new --state folder for a new run"
            )
        if differences.renamed:
            raise UserError(f"{state} belongs to run {stored.metadata.name!r}, not {run.metadata.name!r}")
    if generations is not None:  # validated again as a whole: the stored run.yaml must load on resume
        document = run.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"status"})
        document["spec"]["population"]["generations"] = generations
        run = parse_run(document, f"{run_path or stored_path} with --generations {generations}")
    return run


def _stored_run(path: Path) -> CoevolutionRun:
    """The run file the state folder holds: one that no longer loads is damage to the state
    (exit 75 from `acdc run`, as `acdc verify` names it), not a mistake in the user's file."""
    try:
        return load_run(path)
    except StateError:
        raise
    except UserError as exc:
        raise StateError(path, f"does not load as the run ({exc})") from exc


def resume_command(state: Path) -> str:
    """The command that goes on with the run in ``state``, for the messages that say how to resume.

    The folder holds its run file, so this works however the run was started (`make quickstart`
    included); the bare `acdc run` the messages named before is refused for want of a run file."""
    return f"`acdc run --state {shlex.quote(str(state))}`"


def _holds_no_run(state: Path) -> UserError:
    return UserError(f"{state} holds no run: pass a run file, e.g. `acdc run examples/quickstart.yaml`")


IGNORED_ENTRIES = frozenset({"lost+found"})
"""What a fresh volume's root holds before any run: such a folder still counts as empty."""


def check_state_folder(state: Path, resuming: bool) -> None:
    """Refuse a --state that cannot be, or is not, a run's folder, before anything is written
    there: a file, or a folder that holds other things but no run (`acdc run` would scatter a
    run's files among someone's own). Resuming needs a run already there."""
    if os.path.lexists(state) and not state.is_dir():
        raise UserError(f"state folder {state} is not a folder (a file, or a link to nothing)")
    run_file = RunState(state).run_file
    holds_run = run_file.is_file()
    if resuming and not holds_run:
        raise _holds_no_run(state)
    if state.is_dir() and not holds_run and set(os.listdir(state)) - IGNORED_ENTRIES:
        raise UserError(f"state folder {state} is not empty and holds no run ({run_file.name}): "
                        "pass a new or empty folder as --state")


def preflight_local(spec: CoevolutionRunSpec) -> None:
    """The run file's local paths (models, seed tasks, the evaluation's absolute folders),
    checked before a state folder exists: the init and tasks phases check them too, but a typo
    there would be a failed step, retried, and one in the evaluation would surface only after
    the last generation. (Relative evaluation paths are the state folder's, not there yet.)"""
    from acdc.phases.init import local_model_dir, require_model_dir
    from acdc.tasks.seed_tasks import resolve_seed_tasks

    for source in spec.models.sources:
        if source.path is not None:
            require_model_dir(source, local_model_dir(source.path))
    resolve_seed_tasks(spec.tasks.seed_tasks)
    evaluation = spec.evaluation
    if not (evaluation.enabled or evaluation.every_generations):
        return
    folders = [(f"evaluation.benchmarks[{index}].includePath", benchmark.include_path)
               for index, benchmark in enumerate(evaluation.benchmarks)]
    if evaluation.reward_model is not None:
        folders.append(("evaluation.rewardModel.path", evaluation.reward_model.path))
    for field, text in folders:
        if text is not None and Path(text).is_absolute() and not Path(text).is_dir():
            raise UserError(f"{field}: {text} is not a folder")


def store_run(run: CoevolutionRun, state: Path) -> None:
    """Write the run the phases will read (the local stand-in for the operator's ConfigMap)."""
    state.mkdir(parents=True, exist_ok=True)
    document = run.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"status"})
    write_text(RunState(state).run_file, dump_yaml(document))


def prepare_toy_world(spec: CoevolutionRunSpec) -> Path | None:
    """Build the toy world here, before the first phase, when the run uses it and it is absent.

    The init phase would build it too, but inside a worker process whose log the live view
    does not show: the first quickstart would sit silent for minutes. Here the build logs
    its progress to this terminal. Returns the world's directory, or None for other runs.
    """
    if all(source.toyworld is None for source in spec.models.sources):
        return None
    from acdc.toyworld import ensure_built

    return ensure_built()


def already_finished(spec: CoevolutionRunSpec, state: Path) -> bool:
    """Whether every generation of ``spec`` has its committed records in ``state``.

    Read from the step records alone (milliseconds), so `acdc run` on a finished state answers
    at once instead of building the toy world and the report first.
    """
    records = RunState(state).load_steps()
    if not records:
        return False
    if stopped(state) is not None:  # spec.budget ended it after a generation
        return True
    shape = DagShape.from_spec(spec)
    return run_finished(shape, first_incomplete_generation(shape, records), records)
