"""Set up or reopen a state folder for `acdc run`, refusing edits that would corrupt it."""

from __future__ import annotations

from pathlib import Path

from acdc.atomic import dump_yaml, write_text
from acdc.engine.state import RunState
from acdc.errors import UserError
from acdc.phases.dag import DagShape, first_incomplete_generation, run_finished
from acdc.runner.budget import stopped
from acdc.spec import CoevolutionRun, CoevolutionRunSpec, immutable_changes, load_run


def effective_run(run_path: Path | None, state: Path, generations: int | None) -> CoevolutionRun:
    """The run to execute: the given file (checked against the stored one) or the stored one."""
    stored_path = RunState(state).run_file
    stored = load_run(stored_path) if stored_path.exists() else None
    if run_path is None and stored is None:
        raise UserError(f"{state} holds no run: pass a run file, e.g. `acdc run examples/quickstart.yaml`")
    run = load_run(run_path) if run_path is not None else stored
    assert run is not None
    if stored is not None:
        changed = immutable_changes(stored.spec, run.spec)
        if changed:
            raise UserError(
                f"{run_path} changes fields that cannot change mid-run ({', '.join(changed)}) "
                f"compared with {stored_path}; use a new --state folder for a new run"
            )
        if stored.metadata.name != run.metadata.name:
            raise UserError(f"{state} belongs to run {stored.metadata.name!r}, not {run.metadata.name!r}")
    if generations is not None:
        population = run.spec.population.model_copy(update={"generations": generations})
        run = run.model_copy(update={"spec": run.spec.model_copy(update={"population": population})})
    return run


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
