"""The toy world's premise, measured from the shipped weights in seconds (no coevolution).

What a run's held-out comparison rests on: fine-tuning made each seed forget what the base
knows (the easy combined prompts), and merging two seeds the way the quickstart does
(task arithmetic, base + 0.5 (tv1 + tv2)) gives back part of what both parents lost. It
also pins the limit docs/toyworld.md states: such a merge does not keep its parents' depth
(it scores below the base on every domain), so a regression or a better world shows here.
"""

from __future__ import annotations

import itertools
import random
from functools import cache
from pathlib import Path

import pytest

from acdc.models.inference.base import SamplingParams
from acdc.models.inference.transformers_backend import TransformersBackend
from acdc.models.merge import ChildRecipe, Operator, make_child
from acdc.toyworld.skills import DOMAINS, SKILLS, check
from acdc.toyworld.splits import Split, examples_in

PROMPTS = 10  # per skill and difficulty; 60 per combined level, 20-30 per domain level
COMBINED = tuple(name for name, skill in SKILLS.items() if skill.parts)
PAIRS = tuple(itertools.combinations(DOMAINS, 2))


def accuracy(model_dir: Path, skills: tuple[str, ...], level: str) -> float:
    """Held-out exact-match accuracy over ``skills`` at their easiest ("low") or middle ("mid") difficulty."""
    backend = TransformersBackend.load(model_dir, device="cpu")
    examples = []
    for name in skills:
        low, high = SKILLS[name].difficulty_range
        difficulty = low if level == "low" else (low + high) // 2
        examples += examples_in(Split.HELDOUT, name, difficulty, PROMPTS, random.Random(f"premise:{name}:{difficulty}"))
    outputs = backend.generate([[{"role": "user", "content": e.prompt}] for e in examples], SamplingParams(max_tokens=32))
    return sum(check(e.answer, out) for e, out in zip(examples, outputs, strict=True)) / len(examples)


@pytest.fixture(scope="module")
def merged(toy_world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """base + 0.5 (tv_a + tv_b) for every pair of seeds, made by the run's own merge code."""
    scratch = tmp_path_factory.mktemp("merges")
    crossover = Operator("task_arithmetic", {"lambda": 0.5, "normalize": False})
    return {(a, b): make_child(ChildRecipe((str(toy_world / a), str(toy_world / b)), 0, str(toy_world / "base"),
                                           crossover), scratch / f"{a}-{b}", device="cpu")
            for a, b in PAIRS}


@cache
def _measured(model_dir: Path, skills: tuple[str, ...], level: str) -> float:
    return accuracy(model_dir, skills, level)


def test_every_seed_forgets_the_combined_prompts_the_base_knows(toy_world: Path) -> None:
    assert _measured(toy_world / "base", COMBINED, "low") >= 0.8
    for domain in DOMAINS:
        assert _measured(toy_world / domain, COMBINED, "low") <= 0.3, domain


@pytest.mark.parametrize("pair", PAIRS, ids="+".join)
def test_a_merge_of_two_seeds_gives_back_part_of_what_both_lost(toy_world: Path, merged, pair) -> None:
    child = _measured(merged[pair], COMBINED, "low")
    parents = max(_measured(toy_world / domain, COMBINED, "low") for domain in pair)
    assert child > parents, f"{pair}: merge {child:.2f} vs best parent {parents:.2f}"


@pytest.mark.parametrize("pair", PAIRS, ids="+".join)
def test_a_merge_of_two_seeds_does_not_keep_their_depth(toy_world: Path, merged, pair) -> None:
    """The stated limit of this world (docs/toyworld.md): task vectors interfere at 0.36 M
    parameters, so the merge falls below the base on each parent's own domain."""
    for domain in pair:
        skills = DOMAINS[domain]
        child, base = _measured(merged[pair], skills, "mid"), _measured(toy_world / "base", skills, "mid")
        parent = _measured(toy_world / domain, skills, "mid")
        assert parent > base, f"{domain}: the seed must lead the base on its own domain"
        assert child < 0.7 * parent, f"{pair}: the merge keeps {child:.2f} of {domain}'s {parent:.2f}: update the docs"
