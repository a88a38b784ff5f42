"""Copies of the shared finished MINI run whose spec asks for a benchmark evaluation."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.runner.conftest import finished_state  # noqa: F401 (fixture)
from tests.toyworld.world_fixture import toy_world  # noqa: F401 (fixture)


@pytest.fixture(scope="session")
def mini_state(finished_state: Path) -> Path:  # noqa: F811 (fixture)
    """The session's one finished MINI run (tests.runner.conftest); tests change copies only."""
    return finished_state


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def evaluated_copy(source: Path, target: Path, evaluation: dict[str, Any]) -> Path:
    """Copy a finished state folder and set its run.yaml's spec.evaluation; the copy starts with no
    evaluation of its own (the MINI run benchmarks generation 2 inside its DAG)."""
    shutil.copytree(source, target, symlinks=True)
    shutil.rmtree(target / "evaluation", ignore_errors=True)
    run = yaml.safe_load((target / "run.yaml").read_text())
    run["spec"]["evaluation"] = evaluation
    (target / "run.yaml").write_text(yaml.safe_dump(run))
    return target


def build_reward_model(toy_world: Path, target: Path) -> Path:  # noqa: F811 (a path, not the fixture)
    """A tiny, randomly initialised sequence classifier (one logit) on the toy world's tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    config = AutoConfig.from_pretrained(toy_world / "base", num_labels=1)
    tokenizer = AutoTokenizer.from_pretrained(toy_world / "base")
    config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target
