import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from acdc.errors import PhaseError
from acdc.models.crossover import CROSSOVERS
from acdc.models.inference.base import SamplingParams
from acdc.models.inference.transformers_backend import TransformersBackend
from acdc.models.merge import ChildRecipe, Operator, make_child

PROMPT = [{"role": "user", "content": "Sort: 3 1 2"}]


def _recipe(world: Path, method: str, **params) -> ChildRecipe:
    return ChildRecipe(
        parents=(str(world / "arithmetic"), str(world / "lists")),
        base_model=str(world / "base"),
        crossover=Operator(method, params),
        seed=11,
    )


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for path in sorted(model_dir.glob("*.safetensors")):
        tensors |= load_file(path)
    return tensors


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(CROSSOVERS))
def test_each_method_merges_two_specialists_into_a_loadable_model(toy_world, tmp_path, method):
    child = make_child(_recipe(toy_world, method), tmp_path / "child", device="cpu")
    AutoModelForCausalLM.from_pretrained(child)
    tokenizer = AutoTokenizer.from_pretrained(child)
    assert tokenizer.chat_template
    [completion] = TransformersBackend.load(child, device="cpu").generate([PROMPT], SamplingParams(max_tokens=8))
    assert isinstance(completion, str)
    record = json.loads((child / "recipe.json").read_text())
    assert record["recipe"]["parents"] == [str(toy_world / "arithmetic"), str(toy_world / "lists")]
    assert record["crossover"]["mergekit_config"]["merge_method"] in {method, "nuslerp"}
    # The child differs from both parents: the merge really mixed them.
    merged, a, b = _weights(child), _weights(toy_world / "arithmetic"), _weights(toy_world / "lists")
    name = "model.layers.0.mlp.down_proj.weight"
    assert not torch.equal(merged[name], a[name]) and not torch.equal(merged[name], b[name])


def test_linear_draws_reference_weights_and_matches_the_weighted_average(toy_world, tmp_path):
    child = make_child(_recipe(toy_world, "linear", std=0.05), tmp_path / "child", device="cpu")
    record = json.loads((child / "recipe.json").read_text())
    w1, w2 = record["crossover"]["drawn"]["weights"]
    assert w1 != w2 and all(abs(w - 1.0) < 0.3 for w in (w1, w2))
    a, b, merged = _weights(toy_world / "arithmetic"), _weights(toy_world / "lists"), _weights(child)
    for name, tensor in merged.items():
        expected = (w1 * a[name] + w2 * b[name]) / (w1 + w2)
        torch.testing.assert_close(tensor, expected, rtol=1e-4, atol=1e-5)
    again = make_child(_recipe(toy_world, "linear", std=0.05), tmp_path / "again", device="cpu")
    assert json.loads((again / "recipe.json").read_text())["crossover"]["drawn"]["weights"] == [w1, w2]


def test_task_arithmetic_draws_per_parent_weights_and_adds_weighted_task_vectors(toy_world, tmp_path):
    params = {"std": 0.5, "lambda": 0.5, "normalize": False}
    child = make_child(_recipe(toy_world, "task_arithmetic", **params), tmp_path / "child", device="cpu")
    w1, w2 = json.loads((child / "recipe.json").read_text())["crossover"]["drawn"]["weights"]
    assert w1 != w2
    base, a, b = _weights(toy_world / "base"), _weights(toy_world / "arithmetic"), _weights(toy_world / "lists")
    for name, tensor in _weights(child).items():
        expected = base[name] + 0.5 * (w1 * (a[name] - base[name]) + w2 * (b[name] - base[name]))
        torch.testing.assert_close(tensor, expected, rtol=1e-4, atol=1e-5)
    fixed_recipe = _recipe(toy_world, "task_arithmetic", **{**params, "std": 0.0})
    fixed = make_child(fixed_recipe, tmp_path / "fixed", device="cpu")
    assert json.loads((fixed / "recipe.json").read_text())["crossover"]["drawn"] == {}


def test_slerp_interpolates_with_t_from_a_sigmoid_draw(toy_world, tmp_path):
    child = make_child(_recipe(toy_world, "slerp"), tmp_path / "child", device="cpu")
    drawn = json.loads((child / "recipe.json").read_text())["crossover"]["drawn"]
    assert 0.5 <= drawn["t"] <= 0.7311 and 0.0 <= drawn["u"] <= 1.0


def _break_dir(source: Path, target: Path, edit) -> Path:
    shutil.copytree(source, target)
    [weights] = sorted(target.glob("*.safetensors"))
    tensors = load_file(weights)
    edit(tensors)
    save_file(tensors, weights, metadata={"format": "pt"})
    return target


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.pop("model.layers.0.mlp.up_proj.weight"), "missing"),
        (lambda t: t.update({"model.layers.0.mlp.up_proj.weight": torch.zeros(3, 3)}), "has shape"),
    ],
    ids=["missing-tensor", "mismatched-shape"],
)
def test_broken_parent_fails_cleanly_without_partial_output(toy_world, tmp_path, edit, message):
    broken = _break_dir(toy_world / "lists", tmp_path / "broken", edit)
    recipe = ChildRecipe(
        parents=(str(toy_world / "arithmetic"), str(broken)),
        base_model=str(toy_world / "base"),
        crossover=Operator("ties"),
        seed=1,
    )
    with pytest.raises(PhaseError, match=message):
        make_child(recipe, tmp_path / "out" / "child", device="cpu")
    assert not (tmp_path / "out" / "child").exists()
    assert not list((tmp_path / "out").glob(".staging-*")) if (tmp_path / "out").exists() else True


@pytest.mark.parametrize(
    ("recipe_edit", "message"),
    [
        ({"crossover": Operator("frankenmerge")}, "unknown crossover method 'frankenmerge'"),
        ({"crossover": Operator("ties", {"densty": 0.3})}, "unknown parameter"),
        ({"mutation": Operator("cosmic_rays")}, "unknown mutation method"),
        ({"base_model": "/nonexistent/base"}, "not a model directory"),
        ({"base_model": None}, "needs a base_model"),
    ],
)
def test_bad_recipes_fail_cleanly_without_partial_output(toy_world, tmp_path, recipe_edit, message):
    fields = _recipe(toy_world, "ties").__dict__ | recipe_edit
    with pytest.raises(PhaseError, match=message):
        make_child(ChildRecipe(**fields), tmp_path / "child", device="cpu")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_rerun_replaces_the_child_idempotently(toy_world, tmp_path):
    recipe = _recipe(toy_world, "dare_ties", weight=0.5)  # random drops: the seed must pin them
    first = _weights(make_child(recipe, tmp_path / "child", device="cpu"))
    second = _weights(make_child(recipe, tmp_path / "child", device="cpu"))
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_merge_and_mutation_run_on_cuda(toy_world, tmp_path):
    recipe = ChildRecipe(**(_recipe(toy_world, "slerp").__dict__ | {"mutation": Operator("svd_gaussian")}))
    child = make_child(recipe, tmp_path / "child", device="cuda")
    assert json.loads((child / "recipe.json").read_text())["device"].startswith("cuda")
    backend = TransformersBackend.load(child, device="cuda")
    assert backend.model.device.type == "cuda"
    backend.generate([PROMPT], SamplingParams(max_tokens=4))
