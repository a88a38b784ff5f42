"""The models a run starts from and where every model lives, as phases need them.

Seeds (and the base) are recorded by init in seeds.json and stay where they were found;
children live in the state folder, and records name them relative to it.
"""

from __future__ import annotations

from pathlib import Path

from acdc.engine.ids import seed_model_id
from acdc.engine.state import RunState
from acdc.errors import PhaseError
from acdc.phases.context import PhaseContext, state_of
from acdc.spec import CoevolutionRunSpec

BASE_MODEL_ID = "base"  # the base model's key in seeds.json, beside the seeds' model ids
BASE_CANDIDATE_ID = seed_model_id(BASE_MODEL_ID)  # the base's model id when it runs as a candidate


def resolved_models(state: Path) -> dict[str, str]:
    """seed model id (and BASE_MODEL_ID) -> model dir, as the init phase recorded them."""
    run_state = RunState(state)
    if not run_state.seeds_file.exists():
        raise PhaseError(f"{run_state.seeds_file} is missing: the init phase has not run")
    return run_state.load_seeds()[0]


def stored_model_path(ctx: PhaseContext, model_id: str) -> str:
    """How records name a model: seeds absolute (where init found them), children relative
    to the state folder (models/<id>), so a state folder stays valid wherever it is mounted."""
    seeds = resolved_models(ctx.state)
    if model_id in seeds:
        return seeds[model_id]
    state = state_of(ctx)
    return str(state.model_dir(model_id).relative_to(state.root))


def model_path(ctx: PhaseContext, model_id: str) -> str:
    """The model's directory, usable as is."""
    return str(state_of(ctx).resolve_model(stored_model_path(ctx, model_id)))


def seed_ids(spec: CoevolutionRunSpec) -> list[str]:
    """The seed experts' model ids."""
    return [seed_model_id(seed.display_name) for seed in spec.models.seeds]


def starting_ids(spec: CoevolutionRunSpec) -> list[str]:
    """Every model the run starts from as a candidate: the seeds, then the base when it is one."""
    return seed_ids(spec) + ([BASE_CANDIDATE_ID] if spec.models.base_is_candidate else [])
