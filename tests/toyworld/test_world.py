import dataclasses
import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from acdc.models.inference.transformers_backend import TransformersBackend
from acdc.toyworld.build import WorldRecipe, load_world, measure_accuracy, world_hash
from acdc.toyworld.skills import DOMAINS
from acdc.toyworld.training import Architecture, Curriculum, new_model, train

MARGIN = 0.25
# The base is trained on the easiest third of every skill, which holds the "low" level, so
# a specialist's lead shows from "mid" on; "high" is meant to be only partly solved, by anyone.
LEVELS = ("mid",)


def test_world_layout_and_every_model_loads(toy_world):
    world = load_world(toy_world)
    assert world["hash"] == toy_world.name == world_hash(WorldRecipe())
    for name in ("base", *DOMAINS):
        model = AutoModelForCausalLM.from_pretrained(toy_world / name)
        tokenizer = AutoTokenizer.from_pretrained(toy_world / name)
        assert model.config.head_dim >= 32
        assert "<|assistant|>" in tokenizer.apply_chat_template(
            [{"role": "user", "content": "Add: 1+1"}], add_generation_prompt=True, tokenize=False
        )


@pytest.mark.slow
@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_specialist_beats_base_on_its_own_skills_on_heldout_prompts(toy_world, domain):
    """Measured afresh from the saved weights, not read from world.json."""
    recipe = WorldRecipe()

    def domain_score(model_name: str) -> float:
        accuracy = measure_accuracy(TransformersBackend.load(toy_world / model_name, device="cpu"), recipe)
        scores = [accuracy[skill][level] for skill in DOMAINS[domain] for level in LEVELS]
        return sum(scores) / len(scores)

    specialist, base = domain_score(domain), domain_score("base")
    assert specialist >= base + MARGIN, f"{domain}: specialist {specialist:.2f} vs base {base:.2f}"
    recorded = json.loads((toy_world / "world.json").read_text())["models"][domain]["heldout_accuracy"]
    assert set(recorded) >= set(DOMAINS[domain])


def test_hash_covers_the_recipe():
    assert world_hash(WorldRecipe()) == world_hash(WorldRecipe())
    assert world_hash(dataclasses.replace(WorldRecipe(), seed=1)) != world_hash(WorldRecipe())


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
