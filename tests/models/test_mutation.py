import json

import pytest
import torch
from safetensors.torch import load_file

from acdc.models.merge import ChildRecipe, Operator, make_child
from acdc.models.mutation import mutate

CPU = torch.device("cpu")


def _state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "model.embed_tokens.weight": torch.randn(300, 64, generator=g),
        "model.layers.0.mlp.up_proj.weight": torch.randn(128, 64, generator=g),
        "model.layers.0.self_attn.q_proj.weight": torch.randn(64, 64, generator=g),
        "model.layers.0.input_layernorm.weight": torch.ones(64),
        "model.layers.0.self_attn.q_proj.bias": torch.zeros(64),
    }


def test_gaussian_noise_has_the_requested_scale_everywhere():
    before, after = _state(), _state()
    report = mutate(after, "gaussian", {"rate": 0.01}, seed=3, device=CPU)
    assert sorted(report["changed"]) == sorted(before)
    deltas = torch.cat([(after[k] - before[k]).flatten() for k in before])
    assert abs(deltas.mean().item()) < 1e-3
    assert deltas.std().item() == pytest.approx(0.01, rel=0.05)


def _with_spectrum(rows: int, cols: int, seed: int) -> torch.Tensor:
    """A matrix whose singular values are 3 apart, so noise of 0.25 cannot reorder them."""
    g = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(rows, rows, generator=g))
    v, _ = torch.linalg.qr(torch.randn(cols, cols, generator=g))
    k = min(rows, cols)
    s = 200.0 - 3.0 * torch.arange(k, dtype=torch.float32)
    return u[:, :k] @ torch.diag(s) @ v[:, :k].T


def test_svd_noise_moves_top_singular_values_by_the_rate_and_skips_norms_and_1d():
    before = _state() | {f"model.layers.{i}.mlp.down_proj.weight": _with_spectrum(64, 48, i) for i in range(4)}
    after = {k: v.clone() for k, v in before.items()}
    report = mutate(after, "svd_gaussian", {"rate": 0.25, "keep_rank": 32}, seed=3, device=CPU)
    assert "model.layers.0.input_layernorm.weight" not in report["changed"]
    assert "model.layers.0.self_attn.q_proj.bias" not in report["changed"]
    assert torch.equal(after["model.layers.0.input_layernorm.weight"], before["model.layers.0.input_layernorm.weight"])
    shifts = []
    for i in range(4):
        name = f"model.layers.{i}.mlp.down_proj.weight"
        s_before, s_after = torch.linalg.svdvals(before[name]), torch.linalg.svdvals(after[name])
        shifts.append(s_after[:32] - s_before[:32])
        torch.testing.assert_close(s_after[32:], s_before[32:], rtol=1e-4, atol=1e-3)  # beyond keep_rank
    assert torch.cat(shifts).std().item() == pytest.approx(0.25, rel=0.2)


def test_skip_embeddings_leaves_embeddings_alone():
    before, after = _state(), _state()
    mutate(after, "svd_gaussian", {"skip_embeddings": True}, seed=1, device=CPU)
    assert torch.equal(after["model.embed_tokens.weight"], before["model.embed_tokens.weight"])
    assert not torch.equal(after["model.layers.0.mlp.up_proj.weight"], before["model.layers.0.mlp.up_proj.weight"])


def test_same_seed_same_mutation_different_seed_different():
    a, b, c = _state(), _state(), _state()
    mutate(a, "gaussian", {}, seed=5, device=CPU)
    mutate(b, "gaussian", {}, seed=5, device=CPU)
    mutate(c, "gaussian", {}, seed=6, device=CPU)
    name = "model.layers.0.mlp.up_proj.weight"
    assert torch.equal(a[name], b[name]) and not torch.equal(a[name], c[name])


def test_mutating_a_real_model_changes_weights_at_the_requested_scale(toy_world, tmp_path):
    recipe = ChildRecipe(parents=(str(toy_world / "strings"),), seed=4, mutation=Operator("gaussian", {"rate": 0.002}))
    child = make_child(recipe, tmp_path / "child", device="cpu")
    [parent_file] = sorted((toy_world / "strings").glob("*.safetensors"))
    [child_file] = sorted(child.glob("*.safetensors"))
    parent, mutated = load_file(parent_file), load_file(child_file)
    deltas = torch.cat([(mutated[k] - parent[k]).flatten() for k in parent])
    assert deltas.std().item() == pytest.approx(0.002, rel=0.05)
    record = json.loads((child / "recipe.json").read_text())
    assert record["mutation"]["params"]["rate"] == 0.002 and record["mutation"]["changed"]
