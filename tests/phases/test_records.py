"""What selection reads of a generation's scores: a dropped step leaves none, a succeeded one
must have left them."""

from __future__ import annotations

from pathlib import Path

import pytest

from acdc.engine.integrity import write_manifest
from acdc.engine.state import RunState
from acdc.errors import StateError
from acdc.phases.faults import Fault, classify
from acdc.phases.records import lost_outputs, step_scores
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
    # ... and says how to make them again, by hand where no runner redoes it (the operator)
    assert f"`acdc phase {step.phase.value} --state {tmp_path} --generation 1 --index 2`" in str(damage.value)


MODEL = "gen_0001_ind_00"
CHAIN = [Step(1, phase, 0) for phase in (Phase.MERGE, Phase.EVALUATE, Phase.SCORE)]


def _outputs(state: RunState, *lost: str) -> None:
    """The three outputs of MODEL's chain, less those named in ``lost``."""
    if "folder" not in lost:
        folder = state.model_dir(MODEL)
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"weights")
        write_manifest(folder)
    if "answers" not in lost:
        state.save_answers(1, MODEL, {"task_000001_a": {"answers": ["1"]}})
    if "scores" not in lost:
        state.save_scores(1, MODEL, {"task_000001_a": 1.0})
    if "torn scores" in lost:  # storage that corrupted a file after its atomic write
        path = state.scores_file(1, MODEL)
        path.write_bytes(path.read_bytes()[:10])


@pytest.mark.parametrize(("recorded", "lost", "redone"), [
    (3, (), []),
    (3, ("scores",), ["score"]),
    (3, ("torn scores",), ["score"]),
    (3, ("answers",), []),  # the scores are made: the answers are no longer read
    (3, ("answers", "scores"), ["score", "evaluate"]),
    (3, ("folder",), ["score", "evaluate", "merge"]),  # new weights: answers and scores made again from them
    (2, ("answers", "scores"), ["evaluate"]),  # the score has yet to run and will read the answers
    (1, ("folder", "answers", "scores"), ["merge"]),
], ids=str)
def test_a_resume_redoes_the_steps_whose_needed_outputs_were_lost(
        tmp_path: Path, recorded: int, lost: tuple[str, ...], redone: list[str]) -> None:
    state = RunState(tmp_path)
    state.init()
    _outputs(state, *lost)
    records = {step.name: StepRecord("succeeded", {"model": MODEL}) for step in CHAIN[:recorded]}
    assert [step.phase.value for step in lost_outputs(state, 1, records)] == redone


def test_a_dropped_step_needs_no_outputs(tmp_path: Path) -> None:
    state = RunState(tmp_path)
    state.init()
    records = {CHAIN[0].name: StepRecord("succeeded", {"model": MODEL}),
               CHAIN[1].name: StepRecord("dropped", {}), CHAIN[2].name: StepRecord("dropped", {})}
    _outputs(state, "answers", "scores")
    assert lost_outputs(state, 1, records) == []
