"""The held-out comparison's default grader runs through lm-eval and grades exactly as the
plain transformers grader (the toy world's checker on the extracted answer), prompt for prompt."""

from __future__ import annotations

from pathlib import Path

import pytest

from acdc.evaluation.heldout import LmEvalGrader, TransformersGrader, heldout_tasks
from acdc.spec import parse_run
from tests.runner.conftest import MINI
from tests.toyworld.world_fixture import toy_world  # noqa: F401 (fixture)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("model", ["arithmetic", "strings"])
def test_lm_eval_grades_the_heldout_tasks_as_the_plain_grader(toy_world: Path, model: str) -> None:  # noqa: F811
    spec = parse_run(MINI, "mini").spec
    tasks = heldout_tasks(spec.seed, instances=3)
    plain = TransformersGrader(spec)(str(toy_world / model), tasks)
    through_lm_eval = LmEvalGrader(spec)(str(toy_world / model), tasks)
    assert through_lm_eval == plain
    assert 0 < sum(plain.values()) < len(plain), "a mix of solved and unsolved, so agreement is not vacuous"
