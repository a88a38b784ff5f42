import shutil

from safetensors.torch import load_file, save_file

from acdc.models.merge import ChildRecipe, Operator, make_child
from acdc.models.sanity import check_model, is_repetitive
from acdc.toyworld.probes import toy_probes


def _scaled_copy(source, target, factor):
    shutil.copytree(source, target)
    for path in target.glob("*.safetensors"):
        tensors = {k: v * factor if v.ndim == 2 else v for k, v in load_file(path).items()}
        save_file(tensors, path, metadata={"format": "pt"})
    return target


def test_a_merge_of_two_specialists_passes_against_its_parents(toy_world, tmp_path):
    parents = (toy_world / "arithmetic", toy_world / "lists")
    recipe = ChildRecipe(
        parents=tuple(map(str, parents)), seed=2, crossover=Operator("linear"), mutation=Operator("svd_gaussian")
    )
    child = make_child(recipe, tmp_path / "child", device="cpu")
    report = check_model(child, toy_probes(), parents=parents, device="cpu")
    assert report.ok, report.reasons


def test_a_parent_is_loaded_once_per_process_until_its_weights_change(toy_world, tmp_path, monkeypatch):
    from acdc.models import sanity

    parent = shutil.copytree(toy_world / "lists", tmp_path / "parent")
    loaded = []
    real = sanity.probe_loss
    monkeypatch.setattr(sanity, "probe_loss", lambda path, *a: loaded.append(path.name) or real(path, *a))
    first = [sanity.parent_probe_loss(parent, toy_probes(), "cpu") for _ in range(3)]
    assert loaded == ["parent"] and len(set(first)) == 1
    _scaled_copy(toy_world / "lists", tmp_path / "scaled", 100.0)
    shutil.copy(tmp_path / "scaled" / "model.safetensors", parent / "model.safetensors")
    assert sanity.parent_probe_loss(parent, toy_probes(), "cpu") > first[0]
    assert loaded == ["parent", "parent"]


def test_blown_up_weights_are_rejected_by_their_loss(toy_world, tmp_path):
    broken = _scaled_copy(toy_world / "lists", tmp_path / "scaled", 100.0)
    report = check_model(broken, toy_probes(), parents=[toy_world / "lists"], device="cpu")
    assert not report.ok
    assert any("probe loss" in reason for reason in report.reasons), report.reasons


def test_zeroed_weights_are_rejected_by_their_empty_answers(toy_world, tmp_path):
    broken = _scaled_copy(toy_world / "lists", tmp_path / "zeroed", 0.0)
    report = check_model(broken, toy_probes(), parents=[toy_world / "lists"], device="cpu")
    assert not report.ok
    assert any("empty" in reason for reason in report.reasons), report.reasons


def test_repetition_detector():
    assert is_repetitive("ababababababababababababab")
    assert not is_repetitive("the quick brown fox jumps over the lazy dog")
    assert not is_repetitive("aaaa")  # short answers are fine
