"""Which committed folders a phase, a resuming run and `acdc verify` check, and what a
damaged one can be rebuilt from (``acdc.engine.integrity`` does the hashing).

A child model's manifest is inside its folder; a seed's (and the base's) is in seeds.json,
since seeds live outside the state. Tasks carry their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acdc.engine.ids import is_seed_model, model_generation, model_index
from acdc.engine.integrity import FileDigest, check_folder, digest_folder, require_intact
from acdc.engine.state import RunState
from acdc.errors import StateError, UserError
from acdc.phases.dag import DagShape, committing_step
from acdc.spec import load_run
from acdc.steps import Phase, Step

Checked = tuple[Path, Mapping[str, FileDigest] | None]


def record_seeds(models: Mapping[str, str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Manifests of the seed and base models, for seeds.json (init records them once)."""
    return {model_id: digest_folder(Path(path)) for model_id, path in models.items()}


def _seeds(state: Path) -> tuple[dict[str, str], dict[str, Mapping[str, FileDigest]]]:
    run_state = RunState(state)
    models, integrity = run_state.load_seeds()
    try:
        recorded: dict[str, Mapping[str, FileDigest]] = {
            model_id: {name: FileDigest.from_dict(entry) for name, entry in files.items()}
            for model_id, files in integrity.items()}
        return models, recorded
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StateError(run_state.seeds_file, f"malformed seeds record ({type(exc).__name__})") from exc


def model_folders(state: Path, model_ids: Iterable[str]) -> list[Checked]:
    """(folder, recorded manifest or None for its own) of each model id."""
    seeds, recorded = _seeds(state)
    out: list[Checked] = []
    for model_id in model_ids:
        if model_id in seeds:
            if model_id in recorded:  # seeds.json written before manifests existed: nothing to check
                out.append((Path(seeds[model_id]), recorded[model_id]))
        else:
            out.append((RunState(state).model_dir(model_id), None))
    return out


def task_folders(state: Path, task_ids: Iterable[str]) -> list[Checked]:
    return [(RunState(state).task_dir(task_id), None) for task_id in task_ids]


def require_models(state: Path, model_ids: Iterable[str]) -> None:
    require_intact(model_folders(state, model_ids))


def require_tasks(state: Path, task_ids: Iterable[str]) -> None:
    require_intact(task_folders(state, task_ids))


def committed_folders(state: Path) -> list[Checked]:
    """What the newest commit points at: its archive's models and its pool's tasks."""
    run_state = RunState(state)
    generation = run_state.latest_generation()
    if generation is None:
        return []
    members = [m.model_id for m in run_state.load_archive(generation)]
    return model_folders(state, members) + task_folders(state, run_state.load_pool(generation).active)


def merged_in_flight(state: Path) -> list[Checked]:
    """The children the generation in progress has merged (a succeeded merge record), not yet
    committed: a resume evaluates them as they are, so `acdc verify` checks them too."""
    run_state = RunState(state)
    latest = run_state.latest_generation()
    generation = 0 if latest is None else latest + 1
    if not run_state.plan_file(generation).exists():
        return []
    merged = [child.child_id for child in run_state.load_plan(generation)
              if (record := run_state.load_step(Step(generation, Phase.MERGE, model_index(child.child_id)))) is not None
              and record.status == "succeeded"]
    return model_folders(state, merged)


def require_committed(state: Path, shape: DagShape) -> None:
    """The resume check: layout.json, a commit for every generation whose records say it
    committed, then every folder the newest commit points at (cheap)."""
    if not (state / "layout.json").exists() and not (state / "steps").is_dir():
        return  # a fresh run: nothing committed yet
    run_state = RunState(state)
    run_state.check_layout()
    require_commits(run_state, shape)
    require_intact(committed_folders(state))


def require_commits(state: RunState, shape: DagShape) -> None:
    """Each generation whose committing step (select, or sync where it adapts) succeeded has its
    archive. The newest archive is what the run's result is read from: a lost one read as the
    commit before it, and a finished run stood on generation G-1's archive, exit 0."""
    records = state.load_steps()
    committed = set(state.committed_generations())
    for generation in sorted({Step.parse(name).generation for name in records}):
        step = committing_step(shape, generation)
        record = records.get(step.name)
        if record is not None and record.status == "succeeded" and generation not in committed:
            raise StateError(state.archive_file(generation), f"missing, though {step.name} committed it")


@dataclass(frozen=True)
class Damage:
    error: StateError
    remedy: str


def _remedy(state: Path, error: StateError, seeds: Mapping[str, str]) -> str:
    path = error.path
    if path == state / "layout.json":
        return 'recomputable: write {"layout_version": 1, "kind": "layout"} to it'
    relative = path.relative_to(state).parts if path.is_relative_to(state) else ()
    if len(relative) >= 2 and relative[0] == "models":
        return _model_remedy(state, relative[1], seeds)
    if len(relative) >= 2 and relative[0] == "tasks":
        return "not recomputable (the scientist wrote it): restore the task folder from a backup"
    if any(path.is_relative_to(folder) for folder in map(Path, seeds.values())):
        return "not in the state: restore or rebuild the seed model (toy world: `acdc toyworld build`)"
    return "restore it from a backup"


def _model_remedy(state: Path, model_id: str, seeds: Mapping[str, str]) -> str:
    """A child is recomputable by its merge step while its parents are intact. The weights come out
    bit-identical only under the thread count the run used (BLAS sums in thread-dependent order)."""
    generation = model_generation(model_id)
    if generation is None:
        return "not recomputable: no generation of this run merged it"
    try:
        plan = next(p for p in RunState(state).load_plan(generation) if p.child_id == model_id)
    except (UserError, StopIteration):  # StateError is a UserError
        return "not recomputable: its generation's plan is gone"
    missing = [p for p in plan.parents if not is_seed_model(p) and check_folder(RunState(state).model_dir(p))]
    if missing:
        return f"not recomputable: parent {missing[0]} is gone or damaged too"
    return (f"recomputable: `acdc phase merge --state {state} --generation {generation} --index "
            f"{model_index(model_id)}` merges it again from its recipe")


def find_damage(state: Path) -> tuple[list[Damage], int]:
    """Full check of everything committed and every child merged since (`acdc verify`): damage
    found, and folders checked."""
    run_state = RunState(state)
    damage: list[Damage] = []
    shape = None
    try:  # every command reads the run first: a run.yaml that does not load stops them all
        shape = DagShape.from_spec(load_run(run_state.run_file).spec)
    except UserError as exc:
        damage.append(Damage(StateError(run_state.run_file, f"does not load as the run ({exc})"),
                             "not recomputable: restore it from the run file the run was started with"))
    try:
        run_state.check_layout()
        if shape is not None:
            require_commits(run_state, shape)
        seeds, _ = _seeds(state)
        folders = committed_folders(state)
    except StateError as exc:
        return [*damage, Damage(exc, _remedy(state, exc, {}))], 0
    try:  # a damaged record of the generation in progress must not hide the committed folders
        folders += merged_in_flight(state)
    except StateError as exc:
        damage.append(Damage(exc, _remedy(state, exc, seeds)))
    for folder, recorded in folders:
        for error in check_folder(folder, full=True, recorded=recorded):
            damage.append(Damage(error, _remedy(state, error, seeds)))
    return damage, len(folders)

