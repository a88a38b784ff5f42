"""The toy world's premise, measured from the shipped weights in under a minute (no coevolution).

What a run's held-out comparison rests on: no starting model (the base or a seed) answers a
combined prompt of middling difficulty, because each knows at most one of its two parts
(tests/toyworld/test_world.py); a merge of two seeds made the way the quickstart makes
children (task arithmetic at the quickstart's crossover scale) answers many of them and
keeps most of both parents' depth, because the seeds were fine-tuned together, each graded
part of the time as its merge with another (docs/toyworld.md, fourteenth round). A
regression, or a world whose seeds interfere again, shows here.
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
from acdc.spec.manifest import load_run
from acdc.toyworld.build import evaluation_levels
from acdc.toyworld.skills import DOMAINS, SKILLS, check
from acdc.toyworld.splits import Split, examples_in

PROMPTS = 10  # held-out prompts per skill and difficulty
COMBINED_DIFFICULTY = 4  # of 1-7: the starting models' accuracy there is 0 (docs/toyworld.md)
PAIRS = tuple(itertools.combinations(DOMAINS, 2))
STARTING = ("base", *DOMAINS)
QUICKSTART = Path(__file__).parents[2] / "examples" / "quickstart.yaml"
DEPTH_KEPT = 0.8
"""Least share of each parent's own-domain accuracy a merge keeps (measured: 0.89-1.0 for
every pair; fine-tuned apart, the seeds of the previous world kept 0.45-0.47 of arithmetic
and strings at once)."""


def combined_skills(pair: tuple[str, str]) -> tuple[str, ...]:
    """The combined skills with one part from each domain of ``pair``."""
    domain_of = {skill: domain for domain, skills in DOMAINS.items() for skill in skills}
    return tuple(name for name, skill in SKILLS.items()
                 if skill.parts and {domain_of[part] for part in skill.parts} == set(pair))


@cache
def accuracy(model_dir: Path, skills: tuple[str, ...], difficulty: int | None = None) -> float:
    """Held-out exact-match accuracy over ``skills`` at ``difficulty`` (default: each skill's middle)."""
    backend = TransformersBackend.load(model_dir, device="cpu")
    examples = []
    for name in skills:
        level = evaluation_levels(name)["mid"] if difficulty is None else difficulty
        examples += examples_in(Split.HELDOUT, name, level, PROMPTS, random.Random(f"premise:{name}:{level}"))
    outputs = backend.generate([[{"role": "user", "content": e.prompt}] for e in examples], SamplingParams(max_tokens=32))
    return sum(check(e.answer, out) for e, out in zip(examples, outputs, strict=True)) / len(examples)


@pytest.fixture(scope="module")
def merged(toy_world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """base + scale (tv_a + tv_b) for every pair of seeds, by the run's own merge code at the
    quickstart's crossover scale (its per-parent weights at their mean, 1)."""
    scale = load_run(QUICKSTART).spec.crossover.scale
    crossover = Operator("task_arithmetic", {"lambda": scale, "normalize": False})
    scratch = tmp_path_factory.mktemp("merges")
    return {(a, b): make_child(ChildRecipe((str(toy_world / a), str(toy_world / b)), 0, str(toy_world / "base"),
                                           crossover), scratch / f"{a}-{b}", device="cpu")
            for a, b in PAIRS}


def test_every_pair_of_seeds_has_combined_skills() -> None:
    assert all(combined_skills(pair) for pair in PAIRS)


@pytest.mark.parametrize("pair", PAIRS, ids="+".join)
def test_a_merge_of_two_seeds_answers_combined_prompts_no_starting_model_answers(
        toy_world: Path, merged, pair: tuple[str, str]) -> None:
    skills = combined_skills(pair)
    child = accuracy(merged[pair], skills, COMBINED_DIFFICULTY)
    best_start = max(accuracy(toy_world / model, skills, COMBINED_DIFFICULTY) for model in STARTING)
    assert child >= 0.5 and child >= best_start + 0.4, f"{pair}: merge {child:.2f}, best starting model {best_start:.2f}"


@pytest.mark.parametrize("pair", PAIRS, ids="+".join)
def test_a_merge_of_two_seeds_keeps_their_depth(toy_world: Path, merged, pair: tuple[str, str]) -> None:
    for domain in pair:
        child, parent = accuracy(merged[pair], DOMAINS[domain]), accuracy(toy_world / domain, DOMAINS[domain])
        assert child >= DEPTH_KEPT * parent, f"{pair}: the merge keeps {child:.2f} of {domain}'s {parent:.2f}"
