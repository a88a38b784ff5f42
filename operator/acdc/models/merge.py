"""The merge phase's one entry point: parents + recipe -> a complete child model dir.

``make_child`` checks the inputs (every parent and the base share tensor names and
shapes), runs the crossover through mergekit's Python API, applies the mutation to the
merged safetensors, and writes config, tokenizer and ``recipe.json`` (parents and every
random draw included). Everything happens in a staging dir renamed onto ``out_dir`` at
the end, so a failure leaves no partial model behind and a re-run replaces the child.
"""

from __future__ import annotations

import contextlib
import random
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from acdc.atomic import staged_dir, write_json
from acdc.engine.integrity import write_manifest
from acdc.errors import PhaseError
from acdc.models.crossover import plan_crossover
from acdc.models.device import resolve_device
from acdc.models.mutation import mutate
from acdc.models.seeding import derive_seed

RECIPE_FILE = "recipe.json"


@dataclass(frozen=True)
class Operator:
    """A crossover or mutation method with its parameters (defaults fill the rest)."""

    method: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChildRecipe:
    """How to make one child: parents (1 = a plain copy), base, operators, seed."""

    parents: tuple[str, ...]
    seed: int
    base_model: str | None = None
    crossover: Operator | None = None
    mutation: Operator | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"parents": list(self.parents)}


def tensor_shapes(model_dir: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from a model dir's safetensors headers (no weights read)."""
    if not (model_dir / "config.json").is_file():
        raise PhaseError(f"{model_dir}: not a model directory (missing or without config.json)")
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise PhaseError(f"{model_dir}: no .safetensors weights")
    shapes: dict[str, tuple[int, ...]] = {}
    for path in files:
        with safe_open(path, framework="pt") as handle:
            for name in handle.keys():  # noqa: SIM118 (safe_open is not a mapping)
                shapes[name] = tuple(handle.get_slice(name).get_shape())
    return shapes


def check_compatible(model_dirs: Sequence[Path]) -> None:
    """Every model has the first one's tensor names and shapes, else a PhaseError naming it."""
    reference_dir, *others = model_dirs
    reference = tensor_shapes(reference_dir)
    for other_dir in others:
        other = tensor_shapes(other_dir)
        missing = sorted(set(reference) - set(other))
        extra = sorted(set(other) - set(reference))
        if missing or extra:
            raise PhaseError(
                f"{other_dir}: tensors differ from {reference_dir}: missing {missing[:5]}, unexpected {extra[:5]}"
            )
        for name, shape in reference.items():
            if other[name] != shape:
                raise PhaseError(
                    f"{other_dir}: tensor {name!r} has shape {list(other[name])}, {reference_dir} has {list(shape)}"
                )


@contextlib.contextmanager
def _isolated_global_rng() -> Iterator[None]:
    """mergekit seeds the global python/numpy/torch RNGs; put them back afterwards."""
    py_state, np_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def _run_mergekit(config: dict[str, Any], out_dir: Path, seed: int, device: torch.device) -> None:
    # Imported here: mergekit's import pulls in much of transformers, needed only by this phase.
    from mergekit.config import MergeConfiguration
    from mergekit.merge import MergeOptions, run_merge

    try:
        merge_config = MergeConfiguration.model_validate(config)
        options = MergeOptions(
            cuda=device.type == "cuda",
            device=str(device),
            copy_tokenizer=True,
            random_seed=seed % 2**32,
            write_model_card=False,
            quiet=True,
            safe_serialization=True,
        )
        with _isolated_global_rng():
            run_merge(merge_config, str(out_dir), options=options)
    except PhaseError:
        raise
    except Exception as exc:  # mergekit raises bare RuntimeError/ValueError/KeyError
        raise PhaseError(f"mergekit {config['merge_method']} failed: {type(exc).__name__}: {exc}") from exc


def _copy_model(source: Path, out_dir: Path) -> None:
    for path in source.iterdir():
        if path.is_file() and path.name != RECIPE_FILE:
            shutil.copy2(path, out_dir / path.name)


def _ensure_tokenizer(donor: Path, out_dir: Path) -> None:
    """Copy tokenizer files mergekit did not (it copies from the base model only)."""
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"):
        if (donor / name).is_file() and not (out_dir / name).exists():
            shutil.copy2(donor / name, out_dir / name)


def _mutate_weights(out_dir: Path, mutation: Operator, seed: int, device: torch.device) -> dict[str, Any]:
    report: dict[str, Any] = {"params": {}, "changed": []}
    for index, path in enumerate(sorted(out_dir.glob("*.safetensors"))):
        tensors = load_file(path, device=str(device))
        part = mutate(tensors, mutation.method, mutation.params, derive_seed(seed, f"mutation:{index}"), device)
        save_file({k: v.contiguous().cpu() for k, v in tensors.items()}, path, metadata={"format": "pt"})
        report = {"params": part["params"], "changed": report["changed"] + part["changed"]}
    return report


def make_child(recipe: ChildRecipe, out_dir: Path | str, device: str = "auto") -> Path:
    """Write the child described by ``recipe`` to ``out_dir`` atomically and return it."""
    out_dir = Path(out_dir)
    torch_device = resolve_device(device)
    parents = [Path(p) for p in recipe.parents]
    if not parents:
        raise PhaseError("a child recipe needs at least one parent")
    if len(parents) > 1 and recipe.crossover is None:
        raise PhaseError(f"{len(parents)} parents given but no crossover method")
    inputs = parents + ([Path(recipe.base_model)] if recipe.base_model else [])
    check_compatible(inputs)
    record: dict[str, Any] = {"recipe": recipe.to_json(), "device": str(torch_device)}
    with staged_dir(out_dir) as scratch:
        if recipe.crossover is not None:
            rng = np.random.default_rng(derive_seed(recipe.seed, "crossover"))
            plan = plan_crossover(
                recipe.crossover.method, [str(p) for p in parents], recipe.base_model, recipe.crossover.params, rng
            )
            _run_mergekit(plan.mergekit_config, scratch, derive_seed(recipe.seed, "mergekit"), torch_device)
            _ensure_tokenizer(parents[0], scratch)
            record["crossover"] = {"drawn": plan.drawn, "mergekit_config": plan.mergekit_config}
        else:
            _copy_model(parents[0], scratch)
        if recipe.mutation is not None:
            record["mutation"] = _mutate_weights(scratch, recipe.mutation, recipe.seed, torch_device)
        write_json(scratch / RECIPE_FILE, record)
        write_manifest(scratch)  # committed with the folder: checked before every later use
    return out_dir
