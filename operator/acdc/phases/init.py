"""init: lay out the state folder and find (or fetch) the seed and base models.

Seed models are referenced where they are, never copied (a 7B copy is 15 GB): toy-world
models from the local build cache, `path` sources as given, `hf` sources downloaded once
into the run's volume and verified (acdc.models.hub; in a cluster only the init Job may reach
the hub).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from acdc.atomic import dump_yaml, write_text
from acdc.engine.ids import seed_model_id
from acdc.engine.state import RunState
from acdc.errors import UserError
from acdc.phases.context import PhaseContext, state_of
from acdc.phases.integrity import record_seeds
from acdc.phases.run_models import BASE_CANDIDATE_ID, BASE_MODEL_ID
from acdc.spec import CoevolutionRun, load_run
from acdc.spec.changes import run_differences
from acdc.spec.run import HubSpec, ModelSource


def _resolve(source: ModelSource, hub: HubSpec, state: Path) -> str:
    if source.toyworld is not None:
        from acdc.toyworld import ensure_built

        path = ensure_built() / source.toyworld
    elif source.path is not None:
        path = local_model_dir(source.path)
    else:
        path = _download(source, hub, state)
    return str(require_model_dir(source, path).resolve())


def local_model_dir(text: str) -> Path:
    """A ``path:`` model as an absolute folder: relative paths are the run's working directory's."""
    path = Path(text).expanduser()
    return path if path.is_absolute() else Path.cwd() / path


def require_model_dir(source: ModelSource, path: Path) -> Path:
    """``path``, refused unless it holds a model: `acdc run` asks before it creates anything
    (for ``path:`` models), the init phase for every model."""
    if not (path / "config.json").is_file():
        raise UserError(f"model {source.display_name!r}: {path} is not a model directory (no config.json)")
    from transformers import AutoConfig

    try:  # a config transformers cannot read would fail every step of that model, one by one
        AutoConfig.from_pretrained(path)
    except (ValueError, KeyError) as exc:
        problem = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
        raise UserError(f"model {source.display_name!r}: transformers cannot read {path / 'config.json'}: "
                        f"{problem[:300]}") from None
    return path


def _download(source: ModelSource, hub: HubSpec, state: Path) -> Path:
    """Fetch a hub model into the run's volume once (resumable, verified; skipped when present)."""
    from acdc.models.hub import fetch

    if source.hf is None:
        raise UserError(f"model {source.display_name!r} has no hf id to fetch")
    return fetch(source.hf, source.revision, hub.endpoint, RunState(state).hub_dir / source.display_name)


def require_same_run(stored_path: Path, run: CoevolutionRun) -> None:
    """A volume that holds a run's state serves that run only. A run re-created under the same
    name with another spec (its retained volume adopted), or a second run given the same
    ``existingClaim``, would otherwise compute its generations over the first one's tasks,
    archives and records, and its report read the first one's run.yaml."""
    stored = load_run(stored_path)
    differences = run_differences(stored, run)
    if differences:
        changed = differences.changed
        differs = f"fields that cannot change differ: {', '.join(changed)}" if changed else "another name"
        raise UserError(f"{stored_path} holds the state of run {stored.metadata.name!r} ({differs}); give this run "
                        "a volume of its own, or restore that run's spec to go on with it")


def run(ctx: PhaseContext) -> dict[str, Any]:
    state = state_of(ctx)
    state.init()
    state.tasks_dir.mkdir(parents=True, exist_ok=True)
    if state.run_file.exists():
        require_same_run(state.run_file, ctx.run)
    else:
        document = ctx.run.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"status"})
        write_text(state.run_file, dump_yaml(document))
    models = {seed_model_id(seed.display_name): _resolve(seed, ctx.spec.models.hub, ctx.state) for seed in ctx.spec.models.seeds}
    if ctx.spec.models.base is not None:
        models[BASE_MODEL_ID] = _resolve(ctx.spec.models.base, ctx.spec.models.hub, ctx.state)
        if ctx.spec.models.base_is_candidate:  # the same weights, under a candidate's id
            models[BASE_CANDIDATE_ID] = models[BASE_MODEL_ID]
    # Seeds live outside the state: their manifests are recorded here, checked before each use.
    state.save_seeds(models, record_seeds(models))
    return {"seeds": len(ctx.spec.models.seeds)}
