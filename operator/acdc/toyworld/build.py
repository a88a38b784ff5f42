"""Building the toy world: tokenizer, base model, one specialist per skill domain.

The base is pre-trained on the easiest third of every skill and on a copy task at every
length (so it knows the chat format, the ``a | b`` answer format of combined prompts at
any length, and is mediocre at every skill). Each specialist is fine-tuned *lightly*
from the base on its domain across difficulties, with a quarter of each batch replayed
from the base's curriculum and half of it combined prompts graded on its own part only:
it learns its skill inside the combined format and nothing of the other part, so two
specialists share the base's weight space and a merge of two holds both parts in the
one context where they meet (fully retrained parents merge into noise). The specialists
are fine-tuned together, each graded part of the time as its merge with another, so that
their task vectors still work side by side in a merge instead of colliding in the shared
blocks. Held-out accuracy per model, skill and difficulty is recorded in ``world.json``.

The build is deterministic under the recipe's seed (on one CPU thread, same torch). Its
hash covers the recipe and the code in ``RECIPE_MODULES``; ``store.py`` loads the world
shipped in the package when the hashes agree and builds into a cache otherwise.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import json
import logging
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer, LlamaForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from acdc.atomic import staged_dir, write_json
from acdc.models.inference.base import SamplingParams
from acdc.models.inference.transformers_backend import TransformersBackend
from acdc.models.seeding import derive_seed
from acdc.toyworld.skills import DOMAINS, SKILLS, check
from acdc.toyworld.splits import Split, examples_in
from acdc.toyworld.tokenizer import train_tokenizer
from acdc.toyworld.training import Architecture, Curriculum, MergeDraw, new_model, train, train_together

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
    base_steps: int = 3000
    base_learning_rate: float = 1e-3
    base_copy_share: float = 0.2
    specialist_steps: int = 600
    specialist_learning_rate: float = 3e-4
    specialist_batch_size: int = 64
    specialist_replay_share: float = 0.25
    specialist_own_part_share: float = 0.5
    specialist_merge_share: float = 0.65
    specialist_merge_weights: tuple[float, float] = (0.6, 1.1)
    eval_prompts_per_level: int = 40


RECIPE_MODULES = ("toyworld/build.py", "toyworld/skills.py", "toyworld/splits.py", "toyworld/tokenizer.py",
                  "toyworld/training.py", "models/seeding.py")
"""The source that turns a recipe into bytes (paths under the ``acdc`` package). Loading,
caching and shipping the world live in ``store.py`` so that editing them keeps the hash."""


def code_digest(source: str) -> str:
    """Hash of a module's code with comments, docstrings and layout left out.

    So a reworded docstring or a reformatted line keeps the shipped world valid, while any
    change to what runs (a constant, a loop, a skill) invalidates it.
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.unparse(tree).encode()).hexdigest()


def world_hash(recipe: WorldRecipe) -> str:
    """Content hash of the recipe and of the code that turns it into models (``RECIPE_MODULES``)."""
    package = Path(__file__).parents[1]
    code = [f"{name}:{code_digest((package / name).read_text())}" for name in RECIPE_MODULES]
    recipe_json = json.dumps(dataclasses.asdict(recipe), sort_keys=True)
    return hashlib.sha256("\n".join([recipe_json, *code]).encode()).hexdigest()[:16]


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
    """Build the toy world into ``out_dir`` atomically and return its world.json content.

    One process, one thread: two specialists trained at once in two processes on 2 cores
    ran at about 1.5 s a step each, against 0.58 s for one alone (measured), so a pool would
    only slow the build down.
    """
    out_dir = Path(out_dir)
    started = time.monotonic()
    with _single_thread():
        tokenizer = train_tokenizer(_tokenizer_corpus(recipe), recipe.vocab_size)
        model = new_model(tokenizer, recipe.architecture, derive_seed(recipe.seed, "init"))
        train(model, tokenizer, base_curriculum(recipe), derive_seed(recipe.seed, "train:base"),
              functools.partial(_report, recipe.base_steps, BASE_NAME))
        with staged_dir(out_dir) as scratch:
            models = {BASE_NAME: _save(model, tokenizer, scratch / BASE_NAME, recipe, tuple(SKILLS))}
            log.info("toy world: %s done after %.0fs", BASE_NAME, time.monotonic() - started)
            models |= build_specialists(scratch, recipe)
            world = {
                "hash": world_hash(recipe),
                "recipe": dataclasses.asdict(recipe),
                "base": BASE_NAME,
                "specialists": {domain: list(skills) for domain, skills in DOMAINS.items()},
                "models": models,
            }
            write_json(scratch / WORLD_FILE, world)
    log.info("toy world: built after %.0fs", time.monotonic() - started)
    return world


def base_curriculum(recipe: WorldRecipe) -> Curriculum:
    """The base's training, which the specialists also replay."""
    return Curriculum(tuple(SKILLS), recipe.base_span, recipe.base_steps, recipe.base_learning_rate,
                      copy_share=recipe.base_copy_share)


def build_specialists(world_dir: Path, recipe: WorldRecipe) -> dict[str, dict[str, Any]]:
    """Fine-tune the specialists together from ``world_dir``'s saved base; save them there and
    return their records.

    Together, because each is graded part of the time as its merge with another one as that
    one stands (``train_together``). From the saved bytes, not the base in memory, so the
    specialists can be rebuilt (or a recipe change to them tried) on a built base without
    training the base again.
    """
    with _single_thread():
        tokenizer = AutoTokenizer.from_pretrained(world_dir / BASE_NAME)
        base = LlamaForCausalLM.from_pretrained(world_dir / BASE_NAME, dtype=torch.float32)
        models = {name: LlamaForCausalLM.from_pretrained(world_dir / BASE_NAME, dtype=torch.float32)
                  for name in DOMAINS}
        curricula = {name: specialist_curriculum(name, recipe) for name in DOMAINS}
        train_together(models, base, tokenizer, curricula,
                       {name: derive_seed(recipe.seed, f"train:{name}") for name in DOMAINS},
                       MergeDraw(recipe.specialist_merge_share, recipe.specialist_merge_weights),
                       derive_seed(recipe.seed, "train:merges"),
                       functools.partial(_report, recipe.specialist_steps))
        return {name: _save(models[name], tokenizer, world_dir / name, recipe, DOMAINS[name]) for name in DOMAINS}


def specialist_curriculum(name: str, recipe: WorldRecipe) -> Curriculum:
    """One specialist's training: its domain at every difficulty, the base's replayed, and its
    own part of combined prompts."""
    return Curriculum(
        DOMAINS[name],
        (0.0, 1.0),
        recipe.specialist_steps,
        recipe.specialist_learning_rate,
        recipe.specialist_batch_size,
        replay_share=recipe.specialist_replay_share,
        replay=base_curriculum(recipe),
        own_part_share=recipe.specialist_own_part_share,
    )


def _save(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, target: Path, recipe: WorldRecipe,
          skills: tuple[str, ...]) -> dict[str, Any]:
    """Measure a trained model's held-out accuracy, save it with the tokenizer, return its record."""
    accuracy = measure_accuracy(TransformersBackend(model, tokenizer), recipe)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    log.info("toy world: %s measured: %s", target.name, accuracy)
    return {"skills": list(skills), "heldout_accuracy": accuracy}


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


def _report(steps: int, model_name: str, step: int, loss: float) -> None:
    """A training progress line (bound to a model and its step count with ``functools.partial``)."""
    log.info("toy world: training %s, step %d of %d (loss %.3f)", model_name, step, steps, loss)
