"""`acdc run` builds the toy world in its own process first, so the build's progress is seen."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from acdc.cli.main import main
from acdc.runner.prepare import prepare_toy_world
from acdc.spec import load_run
from acdc.toyworld import build, store

ROOT = Path(__file__).resolve().parents[2]


def test_only_toy_world_runs_build_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[None] = []
    monkeypatch.setattr("acdc.toyworld.ensure_built", lambda: calls.append(None) or tmp_path)
    assert prepare_toy_world(load_run(ROOT / "examples" / "qwen2.5-7b.yaml").spec) is None
    assert not calls
    assert prepare_toy_world(load_run(ROOT / "examples" / "quickstart.yaml").spec) == tmp_path
    assert len(calls) == 1


def test_a_build_is_announced_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                   caplog: pytest.LogCaptureFixture) -> None:
    def fake_build(target: Path, recipe: build.WorldRecipe) -> None:  # the real one takes minutes
        target.mkdir(parents=True)
        (target / build.WORLD_FILE).write_text("{}")

    monkeypatch.setattr(store, "build_world", fake_build)
    with caplog.at_level(logging.INFO, logger="acdc.toyworld.store"):
        first = store.ensure_built(tmp_path, shipped=None)
        assert "building the toy world into" in caplog.text and str(first) in caplog.text
        caplog.clear()
        assert store.ensure_built(tmp_path, shipped=None) == first
    assert "building the toy world" not in caplog.text


def test_a_bad_run_file_leaves_no_state_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: acdc.dev/v1alpha1\nkind: CoevolutionRun\nmetadata: {name: x}\nspec: {seed: nope}\n")
    assert main(["run", str(bad), "--state", str(tmp_path / "state")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "state").exists()


def test_a_seed_whose_config_transformers_cannot_read_is_refused_before_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every evaluate step of such a seed failed and the seed was dropped, exit 0."""
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "config.json").write_text('{"model_type": "nope"}')
    run = yaml.safe_load((ROOT / "examples" / "quickstart.yaml").read_text())
    run["spec"]["models"]["seeds"][0] = {"path": str(junk)}
    run_file = tmp_path / "run.yaml"
    run_file.write_text(yaml.safe_dump(run))
    assert main(["run", str(run_file), "--state", str(tmp_path / "state")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "transformers cannot read" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "state").exists()
