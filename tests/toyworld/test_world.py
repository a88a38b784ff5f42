import dataclasses
import functools
import json
import os
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from acdc.models.inference.transformers_backend import TransformersBackend
from acdc.toyworld.build import RECIPE_MODULES, WORLD_FILE, WorldRecipe, build_world, code_digest, measure_accuracy, world_hash
from acdc.toyworld.skills import DOMAINS, SKILLS
from acdc.toyworld.store import SHIPPED_DIR, ensure_built, load_world, shipped_hash
from acdc.toyworld.training import Architecture, Curriculum, MergeDraw, new_model, train, train_together

MARGIN = 0.25
# The base is trained on the easiest third of every skill, which holds the "low" level, so
# a specialist's lead shows from "mid" on; "high" is meant to be only partly solved, by anyone.
LEVELS = ("mid",)


def test_world_layout_and_every_model_loads(toy_world):
    world = load_world(toy_world)
    assert world["hash"] == world_hash(WorldRecipe())
    for name in ("base", *DOMAINS):
        model = AutoModelForCausalLM.from_pretrained(toy_world / name)
        tokenizer = AutoTokenizer.from_pretrained(toy_world / name)
        assert model.config.head_dim >= 32
        assert "<|assistant|>" in tokenizer.apply_chat_template(
            [{"role": "user", "content": "Add: 1+1"}], add_generation_prompt=True, tokenize=False
        )


@functools.cache
def measured(world: Path, model_name: str) -> dict[str, dict[str, float]]:
    """Held-out accuracy measured afresh from the saved weights, not read from world.json."""
    return measure_accuracy(TransformersBackend.load(world / model_name, device="cpu"), WorldRecipe())


@pytest.mark.slow
@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_specialist_beats_base_on_its_own_skills_on_heldout_prompts(toy_world, domain):
    def domain_score(model_name: str) -> float:
        accuracy = measured(toy_world, model_name)
        scores = [accuracy[skill][level] for skill in DOMAINS[domain] for level in LEVELS]
        return sum(scores) / len(scores)

    specialist, base = domain_score(domain), domain_score("base")
    assert specialist >= base + MARGIN, f"{domain}: specialist {specialist:.2f} vs base {base:.2f}"
    recorded = json.loads((toy_world / "world.json").read_text())["models"][domain]["heldout_accuracy"]
    assert set(recorded) >= set(DOMAINS[domain])


@pytest.mark.slow
@pytest.mark.parametrize("combined", sorted(name for name, skill in SKILLS.items() if skill.parts))
def test_every_starting_model_knows_a_combined_skills_format_and_none_its_middle_levels(toy_world, combined):
    """The world's premise: one model must hold two domains' depth to solve a combined task.

    The base learnt the ``a | b`` format on the easiest levels, and the seeds keep it (their
    fine-tunes replay the base's curriculum), so every starting model answers the easy
    combined prompts; at the middle level each part needs a domain's depth, which each seed
    holds for one part at most, so none of them answers (tests/toyworld/test_premise.py
    shows that a merge of two seeds does).
    """
    for model in ("base", *DOMAINS):
        accuracy = measured(toy_world, model)[combined]
        assert accuracy["low"] >= 0.9 and accuracy["mid"] <= 0.1, (model, accuracy)


def assert_same_weights(expected: Path, actual: Path) -> None:
    """Every safetensors file under ``expected`` has a byte-identical twin under ``actual``."""
    for tensors in sorted(expected.rglob("*.safetensors")):
        twin = actual / tensors.relative_to(expected)
        assert twin.read_bytes() == tensors.read_bytes(), tensors.relative_to(expected)


def test_hash_covers_the_recipe():
    assert world_hash(WorldRecipe()) == world_hash(WorldRecipe())
    assert world_hash(dataclasses.replace(WorldRecipe(), seed=1)) != world_hash(WorldRecipe())


def test_the_shipped_world_is_the_one_the_code_describes():
    """A change to the recipe or to the code that trains it must ship a rebuilt world.

    Rebuild with ``acdc toyworld build operator/acdc/toyworld/shipped --force`` (about an hour).
    """
    assert shipped_hash() == world_hash(WorldRecipe()), "the shipped toy world is stale: rebuild it (see docstring)"
    assert ensure_built() == SHIPPED_DIR


def test_the_hash_ignores_comments_and_docstrings_but_not_code():
    plain = "def f(x):\n    return x + 1\n"
    assert code_digest('"""Module."""\n# note\ndef f(x):\n    """Why."""\n    return (x + 1)  # one\n') == code_digest(plain)
    assert code_digest(plain.replace("1", "2")) != code_digest(plain)
    assert "toyworld/store.py" not in RECIPE_MODULES, "loading and caching must not invalidate the shipped world"


def test_a_stale_shipped_world_is_not_loaded(tmp_path):
    stale = tmp_path / "shipped"
    stale.mkdir()
    (stale / WORLD_FILE).write_text(json.dumps({"hash": "0" * 16}))
    cache = tmp_path / "cache"
    built = cache / "toyworld" / world_hash(WorldRecipe())
    built.mkdir(parents=True)
    (built / WORLD_FILE).write_text("{}")  # stands for a finished build: nothing is trained here
    assert ensure_built(cache, shipped=stale) == built


@pytest.mark.skipif(not os.environ.get("ACDC_TEST_REBUILD"), reason="rebuilds the world (an hour); set ACDC_TEST_REBUILD=1")
def test_a_rebuild_reproduces_the_shipped_bytes(tmp_path):
    build_world(tmp_path / "world")
    assert_same_weights(SHIPPED_DIR, tmp_path / "world")


def test_training_is_deterministic_under_its_seeds(toy_world):
    tokenizer = AutoTokenizer.from_pretrained(toy_world / "base")
    curriculum = Curriculum(("add", "sort"), (0.0, 0.5), steps=5, learning_rate=1e-3, batch_size=8)

    def trained(seed: int):
        model = new_model(tokenizer, Architecture(), seed=1)
        train(model, tokenizer, curriculum, seed=seed)
        return model.state_dict()

    first, again, other = trained(3), trained(3), trained(4)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_training_reports_progress_every_tenth_of_its_steps(toy_world):
    tokenizer = AutoTokenizer.from_pretrained(toy_world / "base")
    seen: list[int] = []
    curriculum = Curriculum(("add",), (0.0, 0.5), steps=20, learning_rate=1e-3, batch_size=4)
    train(new_model(tokenizer, Architecture(), seed=1), tokenizer, curriculum, seed=1,
          progress=lambda step, _loss: seen.append(step))
    assert seen == list(range(2, 21, 2))


TINY = Architecture(hidden_size=64, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)


def _weights(model) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def _lockstep(tokenizer, steps: dict[str, int], draw: MergeDraw) -> dict[str, dict[str, torch.Tensor]]:
    """Two tiny specialists of one tiny base, trained together for ``steps`` each."""
    base = new_model(tokenizer, TINY, seed=1)
    models = {name: new_model(tokenizer, TINY, seed=1) for name in steps}
    curricula = {name: Curriculum((skill,), (0.0, 1.0), steps=count, learning_rate=1e-2, batch_size=4)
                 for (name, count), skill in zip(steps.items(), ("add", "reverse"), strict=True)}
    train_together(models, base, tokenizer, curricula, {name: 7 for name in steps}, draw, draw_seed=5)
    return {name: _weights(model) for name, model in models.items()}


def test_specialists_trained_together_but_never_merged_are_the_ones_trained_alone(toy_world):
    """Lockstep changes nothing by itself: each specialist gets its own batches and schedule."""
    tokenizer = AutoTokenizer.from_pretrained(toy_world / "base")
    together = _lockstep(tokenizer, {"a": 3, "b": 3}, MergeDraw(share=0.0, weights=(1.0, 1.0)))
    alone = new_model(tokenizer, TINY, seed=1)
    train(alone, tokenizer, Curriculum(("add",), (0.0, 1.0), steps=3, learning_rate=1e-2, batch_size=4), seed=7)
    assert all(torch.equal(together["a"][key], value) for key, value in _weights(alone).items())


def test_a_step_graded_as_a_merge_is_graded_beside_the_partner(toy_world):
    """At weights (1, 1) a merge step grades θ + (θ' - base): the partner's task vector must
    change what the specialist learns, or the fine-tune is not merge-aware at all."""
    tokenizer = AutoTokenizer.from_pretrained(toy_world / "base")
    merged = _lockstep(tokenizer, {"a": 3, "b": 3}, MergeDraw(share=1.0, weights=(1.0, 1.0)))
    plain = _lockstep(tokenizer, {"a": 3, "b": 3}, MergeDraw(share=0.0, weights=(1.0, 1.0)))
    assert not all(torch.equal(merged["a"][key], plain["a"][key]) for key in plain["a"])


def test_a_small_build_runs_end_to_end_and_is_deterministic(tmp_path):
    """The real build takes about an hour and never runs in CI (the world ships prebuilt), so CI
    runs the same code on a tiny recipe: every model saved, world.json complete, and the
    same bytes twice (what makes the shipped world reproducible)."""
    tiny = dataclasses.replace(
        WorldRecipe(), tokenizer_corpus_per_skill=20, base_steps=4, specialist_steps=4, eval_prompts_per_level=1,
        architecture=TINY,
    )
    first, again = (build_world(tmp_path / name, tiny) for name in ("first", "again"))
    assert first == again and first["hash"] == world_hash(tiny)
    assert set(first["models"]) == {"base", *DOMAINS}
    assert_same_weights(tmp_path / "first", tmp_path / "again")
    assert load_world(tmp_path / "first")["hash"] == world_hash(tiny)
