"""Building the toy world: tokenizer, base model, one specialist per skill domain.

The base is pre-trained on the easiest third of every skill, so it knows the chat
format and is mediocre; each specialist is fine-tuned *lightly* from the base on its
domain across difficulties, so specialists share the base's weight space and merges
between them are meaningful (fully retrained parents merge into noise). Held-out
accuracy per model, skill and difficulty is recorded in ``world.json``.

The build is deterministic under the recipe's seed and is cached under
``$ACDC_CACHE/toyworld/<hash>``, the hash covering the recipe and this package's source,
so tests and the quickstart build it once and a code change rebuilds it.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from acdc.atomic import read_json, staged_dir, write_json
from acdc.models.inference.base import SamplingParams
from acdc.models.inference.transformers_backend import TransformersBackend
from acdc.models.seeding import derive_seed
from acdc.toyworld.skills import DOMAINS, SKILLS, check
from acdc.toyworld.splits import Split, examples_in
from acdc.toyworld.tokenizer import train_tokenizer
from acdc.toyworld.training import Architecture, Curriculum, new_model, train

log = logging.getLogger(__name__)

WORLD_FILE = "world.json"
BASE_NAME = "base"


@dataclasses.dataclass(frozen=True)
class WorldRecipe:
    """Everything that determines the toy world's bytes (with the package source)."""

    seed: int = 20260
    vocab_size: int = 320
    tokenizer_corpus_per_skill: int = 400
    architecture: Architecture = Architecture()
    base_span: tuple[float, float] = (0.0, 0.34)
    base_steps: int = 4000
    base_learning_rate: float = 3e-3
    specialist_steps: int = 500
    specialist_learning_rate: float = 1e-3
    specialist_batch_size: int = 64
    eval_prompts_per_level: int = 40


def world_hash(recipe: WorldRecipe) -> str:
    """Content hash of the recipe and of the source that turns it into models."""
    source = hashlib.sha256()
    package = Path(__file__).parent
    for path in [*sorted(package.glob("*.py")), package.parent / "models" / "seeding.py"]:
        source.update(path.name.encode() + b"\0" + path.read_bytes())
    recipe_json = json.dumps(dataclasses.asdict(recipe), sort_keys=True)
    return hashlib.sha256(recipe_json.encode() + source.digest()).hexdigest()[:16]


def evaluation_levels(skill_name: str) -> dict[str, int]:
    """The difficulties reported in world.json: easy, medium and hardest of a skill."""
    low, high = SKILLS[skill_name].difficulty_range
    return {"low": low + 1, "mid": (low + high) // 2, "high": high}


def measure_accuracy(backend: TransformersBackend, recipe: WorldRecipe) -> dict[str, dict[str, float]]:
    """Held-out exact-match accuracy per skill and level, greedy decoding."""
    result: dict[str, dict[str, float]] = {}
    for name in SKILLS:
        result[name] = {}
        for label, difficulty in evaluation_levels(name).items():
            rng = random.Random(derive_seed(recipe.seed, f"eval:{name}:{difficulty}"))
            examples = examples_in(Split.HELDOUT, name, difficulty, recipe.eval_prompts_per_level, rng)
            chats = [[{"role": "user", "content": ex.prompt}] for ex in examples]
            outputs = backend.generate(chats, SamplingParams(max_tokens=32))
            hits = sum(check(ex.answer, out) for ex, out in zip(examples, outputs, strict=True))
            result[name][label] = round(hits / len(examples), 4)
    return result


def _tokenizer_corpus(recipe: WorldRecipe) -> Iterator[str]:
    rng = random.Random(derive_seed(recipe.seed, "tokenizer"))
    for skill in SKILLS.values():
        for _ in range(recipe.tokenizer_corpus_per_skill):
            example = skill.sample(rng.randint(*skill.difficulty_range), rng)
            yield example.prompt
            yield example.answer


def build_world(out_dir: Path | str, recipe: WorldRecipe = WorldRecipe()) -> dict[str, Any]:
    """Build the toy world into ``out_dir`` atomically and return its world.json content."""
    with _single_thread():
        return _build_world(Path(out_dir), recipe)


@contextmanager
def _single_thread() -> Iterator[None]:
    """Train on one intra-op thread, restoring the caller's setting afterwards.

    The model's matrices are far too small to gain from parallel kernels, and on a
    shared, oversubscribed machine two OpenMP threads waiting on each other ran ten
    times slower than one (measured: 2.4 s against 0.22 s per step).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _progress(model_name: str, steps: int) -> Callable[[int, float], None]:
    def report(step: int, loss: float) -> None:
        log.info("toy world: training %s, step %d of %d (loss %.3f)", model_name, step, steps, loss)

    return report


def _build_world(out_dir: Path, recipe: WorldRecipe) -> dict[str, Any]:
    started = time.monotonic()
    tokenizer = train_tokenizer(_tokenizer_corpus(recipe), recipe.vocab_size)
    model = new_model(tokenizer, recipe.architecture, derive_seed(recipe.seed, "init"))
    base_curriculum = Curriculum(
        tuple(SKILLS), recipe.base_span, recipe.base_steps, recipe.base_learning_rate
    )
    train(model, tokenizer, base_curriculum, derive_seed(recipe.seed, "train:base"), _progress(BASE_NAME, recipe.base_steps))
    base_state = {key: value.clone() for key, value in model.state_dict().items()}
    models: dict[str, dict[str, Any]] = {}
    with staged_dir(out_dir) as scratch:
        for name in (BASE_NAME, *DOMAINS):
            if name != BASE_NAME:  # every specialist starts from the base's weights
                model.load_state_dict(base_state)
                curriculum = Curriculum(
                    DOMAINS[name],
                    (0.0, 1.0),
                    recipe.specialist_steps,
                    recipe.specialist_learning_rate,
                    recipe.specialist_batch_size,
                )
                train(model, tokenizer, curriculum, derive_seed(recipe.seed, f"train:{name}"),
                      _progress(name, recipe.specialist_steps))
            accuracy = measure_accuracy(TransformersBackend(model, tokenizer), recipe)
            model.generation_config.pad_token_id = tokenizer.pad_token_id
            model.generation_config.eos_token_id = tokenizer.eos_token_id
            model.save_pretrained(scratch / name)
            tokenizer.save_pretrained(scratch / name)
            models[name] = {"skills": list(DOMAINS.get(name, SKILLS)), "heldout_accuracy": accuracy}
            log.info("toy world: %s done after %.0fs: %s", name, time.monotonic() - started, accuracy)
        world = {
            "hash": world_hash(recipe),
            "recipe": dataclasses.asdict(recipe),
            "base": BASE_NAME,
            "specialists": {domain: list(skills) for domain, skills in DOMAINS.items()},
            "models": models,
        }
        write_json(scratch / WORLD_FILE, world)
    return world


def default_cache_root() -> Path:
    return Path(os.environ.get("ACDC_CACHE") or Path.home() / ".cache" / "acdc")


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Serialise builders of the same world across processes (pytest workers, CLI)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_built(cache_root: Path | str | None = None, recipe: WorldRecipe = WorldRecipe()) -> Path:
    """The cached toy world for ``recipe``, built first when absent; returns its directory."""
    root = Path(cache_root) if cache_root is not None else default_cache_root()
    digest = world_hash(recipe)
    target = root / "toyworld" / digest
    with _exclusive(root / "toyworld" / f".{digest}.lock"):
        if not (target / WORLD_FILE).is_file():
            log.info("building the toy world into %s: once, then cached (a few minutes on 2 cores)", target)
            build_world(target, recipe)
    return target


def load_world(world_dir: Path | str) -> dict[str, Any]:
    """world.json of a built toy world (raises StateError naming the file when missing)."""
    world: dict[str, Any] = read_json(Path(world_dir) / WORLD_FILE)
    return world
