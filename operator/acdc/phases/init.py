"""init: lay out the state folder and find (or fetch) the seed and base models.

Seed models are referenced where they are, never copied (a 7B copy is 15 GB): toy-world
models from the local build cache, `path` sources as given, `hf` sources downloaded once
into the run's volume (in the worker image; this machine has no hub access).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from acdc.atomic import dump_yaml, write_json, write_text
from acdc.engine.ids import seed_model_id
from acdc.errors import PhaseError, UserError
from acdc.phases.context import PhaseContext, run_file
from acdc.phases.world import BASE_MODEL_ID, SEEDS_FILE, state_of, tasks_dir
from acdc.spec.run import ModelSource


def _resolve(source: ModelSource, state: Path) -> str:
    if source.toyworld is not None:
        from acdc.toyworld import ensure_built

        path = ensure_built() / source.toyworld
    elif source.path is not None:
        path = Path(source.path).expanduser()
        if not path.is_absolute():
            path = Path.cwd() / path
    else:
        path = _download(source, state)
    if not (path / "config.json").is_file():
        raise UserError(f"model {source.display_name!r}: {path} is not a model directory (no config.json)")
    return str(path.resolve())


def _download(source: ModelSource, state: Path) -> Path:
    """Fetch a hub model into the run's volume once (resumable; skipped when present)."""
    target = state / "hub" / source.display_name
    if (target / "config.json").is_file():
        return target
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - the worker image has it
        raise PhaseError("huggingface_hub is needed to fetch hf models") from exc
    if source.hf is None:
        raise UserError(f"model {source.display_name!r} has no hf id to fetch")
    try:
        snapshot_download(repo_id=source.hf, revision=source.revision, local_dir=target)
    except Exception as exc:  # network, auth, missing repo: all user-visible
        raise PhaseError(f"could not fetch {source.hf}: {exc}") from exc
    return target


def run(ctx: PhaseContext) -> dict[str, Any]:
    state = state_of(ctx)
    state.init()
    tasks_dir(ctx.state).mkdir(parents=True, exist_ok=True)
    if not run_file(ctx.state).exists():
        document = ctx.run.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"status"})
        write_text(run_file(ctx.state), dump_yaml(document))
    models = {seed_model_id(seed.display_name): _resolve(seed, ctx.state) for seed in ctx.spec.models.seeds}
    if ctx.spec.models.base is not None:
        models[BASE_MODEL_ID] = _resolve(ctx.spec.models.base, ctx.state)
    write_json(ctx.state / SEEDS_FILE, {"models": models})
    return {"seeds": len(ctx.spec.models.seeds)}
