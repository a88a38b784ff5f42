"""`acdc run` end to end on the toy world: completion, kill at any point, resume, locking."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest
import yaml

from tests.progress import wait_progressing
from tests.runner.conftest import acdc_run, final_state, kill_group, start_run, wait_for_steps

GENERATIONS = 2


def test_run_completes_every_generation(reference: dict[str, str]) -> None:
    assert f"archives/{GENERATIONS:04d}.json" in reference
    archive = json.loads(reference[f"archives/{GENERATIONS:04d}.json"])
    assert 1 <= len(archive["members"]) <= 4
    pool = json.loads(reference[f"pools/{GENERATIONS:04d}.json"])
    assert pool["active"], "the task pool must not be empty"


def test_second_run_on_a_finished_state_does_nothing(mini_run: Path, tmp_path: Path, finished_state: Path) -> None:
    state = tmp_path / "state"  # a copy of the session's finished run: this test must not change that one
    shutil.copytree(finished_state, state)
    before = final_state(state)
    again = acdc_run(str(mini_run), "--state", str(state))
    assert again.returncode == 0 and final_state(state) == before


@pytest.mark.parametrize("kill_after", [2, 9, 24])
def test_sigkill_at_any_point_resumes_to_the_same_result(
    kill_after: int, mini_run: Path, tmp_path: Path, reference: dict[str, str]
) -> None:
    state = tmp_path / "state"
    process = start_run(str(mini_run), "--state", str(state))
    wait_for_steps(state, kill_after, process)
    kill_group(process, signal.SIGKILL)
    resumed = acdc_run(str(mini_run), "--state", str(state))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert final_state(state) == reference
    assert not list(state.rglob(".staging-*")), "partial writes must be swept on resume"


def test_outputs_lost_after_their_steps_succeeded_are_made_again_on_resume(
    mini_run: Path, tmp_path: Path, reference: dict[str, str]
) -> None:
    """A scored child of the generation in progress loses its folder, its answers and its scores
    (a restore from an older backup): the resume merges, evaluates and scores it again and ends
    as the uninterrupted run. It stopped with exit 75 at select, for good: the records said the
    steps had succeeded, and nothing but deleting them by hand made them run again."""
    state = tmp_path / "state"
    process = start_run(str(mini_run), "--state", str(state))
    wait_for_steps(state, 1, process, names="g0001-score-*")
    kill_group(process, signal.SIGKILL)
    scored = [json.loads(path.read_text()) for path in (state / "steps").glob("g0001-score-*.json")]
    model = next(record["result"]["model"] for record in scored if record["status"] == "succeeded")
    shutil.rmtree(state / "models" / model)
    for kind in ("answers", "scores"):
        (state / "generations" / "0001" / kind / f"{model}.json").unlink()
    resumed = acdc_run(str(mini_run), "--state", str(state))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert final_state(state) == reference


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm-to-the-group"])
def test_a_stop_signal_stops_cleanly_and_resume_finishes(stop: str, mini_run: Path, tmp_path: Path,
                                                         reference: dict[str, str]) -> None:
    """Ctrl-C reaches the runner; timeout and systemd send SIGTERM to the whole process group,
    workers included (a worker that died of it first read as a lost worker, exit 75)."""
    state, log = tmp_path / "state", tmp_path / "run.log"
    process = start_run(str(mini_run), "--state", str(state), log=log)
    wait_for_steps(state, 6, process)
    if stop == "ctrl-c":
        process.send_signal(signal.SIGINT)
    else:
        os.killpg(process.pid, signal.SIGTERM)
    wait_progressing(process, watch=[state])
    output = log.read_text()
    assert process.returncode == 130, output[-2000:]
    assert ("SIGINT" if stop == "ctrl-c" else "SIGTERM") in output
    assert f"run `acdc run --state {state}` to resume" in output and "Traceback" not in output
    assert acdc_run("--state", str(state)).returncode == 0  # the command it names: the stored run file
    assert final_state(state) == reference


def test_two_runners_on_one_state_are_refused(mini_run: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = start_run(str(mini_run), "--state", str(state))
    try:
        wait_for_steps(state, 1, first)
        second = acdc_run(str(mini_run), "--state", str(state))
        assert second.returncode == 2 and "in use by another" in second.stderr
    finally:
        kill_group(first, signal.SIGKILL)


def test_changing_an_immutable_field_is_refused(mini_run: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    process = start_run(str(mini_run), "--state", str(state))
    wait_for_steps(state, 1, process)
    kill_group(process, signal.SIGKILL)
    doc = yaml.safe_load(mini_run.read_text())
    doc["spec"]["seed"] = 2
    changed = mini_run.with_name("changed.yaml")
    changed.write_text(yaml.safe_dump(doc))
    result = acdc_run(str(changed), "--state", str(state))
    assert result.returncode == 2 and "seed" in result.stderr and "Traceback" not in result.stderr


def test_every_step_run_again_gives_the_same_state(finished_state: Path, tmp_path: Path) -> None:
    """Idempotency: re-executing any finished step (as after a kill) rewrites identical records."""
    from acdc.engine.state import RunState
    from acdc.phases.execute import execute
    from acdc.steps import Phase, Step

    state = tmp_path / "state"
    shutil.copytree(finished_state, state)
    before = final_state(state)
    records = RunState(state).load_steps()
    # After a generation commits, models that left the archive are garbage-collected, so a
    # model step can only run again while its model (and a merge's parents) are on disk; a kill
    # only ever interrupts the generation in progress, before its garbage collection.
    def inputs_on_disk(step: Step) -> bool:
        if step.phase not in (Phase.MERGE, Phase.EVALUATE, Phase.REEVALUATE):
            return True
        model = records[step.name].result["model"]
        if model.startswith("seed_"):
            return True
        folder = state / "models" / model
        if step.phase is Phase.MERGE and folder.is_dir():
            parents = json.loads((folder / "recipe.json").read_text())["recipe"]["parents"]
            return all(Path(parent).is_dir() for parent in parents)
        return folder.is_dir()

    steps = sorted((Step.parse(n) for n, r in records.items() if r.status == "succeeded"),
                   key=lambda s: (s.generation, s.name))
    rerun = [step for step in steps if inputs_on_disk(step)]
    assert {s.phase for s in rerun} == set(Phase), "every kind of phase must be exercised"
    for step in rerun:
        execute(state, step)
    assert final_state(state) == before
