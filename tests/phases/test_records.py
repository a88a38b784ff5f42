"""What selection reads of a generation's scores: a dropped step leaves none, a succeeded one
must have left them."""

from __future__ import annotations

from pathlib import Path

import pytest

from acdc.engine.state import RunState
from acdc.errors import StateError
from acdc.phases.faults import Fault, classify
from acdc.phases.records import step_scores
from acdc.steps import Phase, Step, StepRecord


@pytest.mark.parametrize("rescore", [False, True], ids=["score", "rescore"])
def test_a_succeeded_step_without_its_scores_is_damage_not_a_drop(tmp_path: Path, rescore: bool) -> None:
    """An audit deleted a scored seed's file and resumed: selection left the seed out and the
    run finished, exit 0 (and a rescore's loss committed a member at fitness 0.625, not 0.781)."""
    state = RunState(tmp_path)
    state.init()
    step = Step(1, Phase.RESCORE if rescore else Phase.SCORE, 2)
    model = "gen_0001_ind_02"
    assert step_scores(state, step, model, rescore, given_up=frozenset({step.name})) is None  # the operator gave it up
    with pytest.raises(StateError, match=f"no record of {step.name} is on the volume or says it was given up"):
        step_scores(state, step, model, rescore)  # outputs and record lost: never read as given up
    state.save_step(step, StepRecord("dropped", {}))
    assert step_scores(state, step, model, rescore) is None  # dropped: no scores, by design
    state.save_scores(1, model, {"task_000001_a": 1.0}, rescore)
    state.save_step(step, StepRecord("succeeded", {}))
    assert step_scores(state, step, model, rescore) == {"task_000001_a": 1.0}
    state.scores_file(1, model, rescore).unlink()
    with pytest.raises(StateError, match=f"missing, though {step.name} succeeded") as damage:
        step_scores(state, step, model, rescore)
    assert classify(damage.value) is Fault.INFRASTRUCTURE  # the run stops (exit 75), nothing is dropped
