"""The local runner retries a failed step as often as its phase's policy says (spec.phases), as
the operator's Job backoffLimit does: the one resolver, ``PhasesSpec.resolve``, feeds both."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from acdc.errors import RunFailed
from acdc.phases.faults import Fault
from acdc.runner.executor import LocalRunner, RunnerOptions
from acdc.runner.progress import RunView
from acdc.spec import parse_run
from acdc.steps import Phase, Step, StepRecord
from tests.controller.cluster import run_body


class Quiet:
    def message(self, _text: str) -> None: ...
    def step_finished(self, *_args: object) -> None: ...


def runner(tmp_path: Path, **overrides) -> LocalRunner:
    spec = parse_run(run_body(**overrides), "demo").spec
    return LocalRunner(tmp_path, "demo", spec, RunnerOptions(workers=1))


def test_a_phase_with_no_retries_fails_the_run_on_its_first_failure(tmp_path: Path) -> None:
    select = Step(1, Phase.SELECT)
    with pytest.raises(RunFailed, match="after 1 attempts"):
        runner(tmp_path, phases={"select": {"backoffLimit": 0}})._failed(select, "boom", Fault.STEP, Quiet())


def test_other_phases_keep_their_resource_class_retries(tmp_path: Path) -> None:
    local = runner(tmp_path, phases={"select": {"backoffLimit": 0}}, resources={"control": {"backoffLimit": 1}})
    plan = Step(1, Phase.PLAN)
    local._failed(plan, "boom", Fault.STEP, Quiet())  # first failure: retried (class limit 1)
    with pytest.raises(RunFailed, match="after 2 attempts"):
        local._failed(plan, "boom", Fault.STEP, Quiet())


def test_a_failed_run_says_one_line_and_keeps_the_traceback_in_the_debug_log(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A worker sends a bug's traceback with its error (runner.pool); the user sees its first line."""
    detail = "ValueError: boom\nTraceback (most recent call last):\n  File \"x.py\", line 1"
    with caplog.at_level(logging.DEBUG, logger="acdc.runner.executor"), pytest.raises(RunFailed) as info:
        runner(tmp_path, phases={"select": {"backoffLimit": 0}})._failed(Step(1, Phase.SELECT), detail, Fault.STEP,
                                                                        Quiet())
    assert str(info.value) == "g0001-select failed after 1 attempts: ValueError: boom"
    assert "Traceback" in caplog.text


class HungPool:
    """Steps that never finish (a deadlock, a stuck read): what the deadline is for."""

    def __init__(self, *steps: Step) -> None:
        self._running = list(steps)
        self.cancelled: list[Step] = []

    @property
    def running(self) -> list[Step]:
        return list(self._running)

    def cancel(self, step: Step) -> None:
        self._running.remove(step)
        self.cancelled.append(step)


def _started(local: LocalRunner, seconds_ago: float, *steps: Step) -> None:
    for step in steps:
        local._launched[step.name] = 0.0
        local._first_launched[step.name] = time.monotonic() - seconds_ago


def test_a_step_past_its_deadline_is_given_up_as_the_operators_job_would_be(tmp_path: Path) -> None:
    """activeDeadlineSeconds over all attempts, where the run file sets it (its phase's, else its
    class's): a per-model step is dropped and its worker killed; a step the run cannot do
    without fails the run. An audit's stopped worker had the local run wait, silent, for as
    long as anyone watched."""
    from acdc.engine.state import RunState

    RunState(tmp_path).init()
    local = runner(tmp_path, phases={"merge": {"activeDeadlineSeconds": 30}, "select": {"activeDeadlineSeconds": 30}},
                   resources={"score": {"activeDeadlineSeconds": 30}})
    merge, evaluate, score = Step(1, Phase.MERGE, 0), Step(1, Phase.EVALUATE, 1), Step(1, Phase.SCORE, 2)
    pool = HungPool(merge, evaluate, score)
    _started(local, 31, merge, evaluate, score)
    local._enforce_deadlines(pool, RunView("demo", 2), Quiet())  # type: ignore[arg-type]
    assert pool.cancelled == [merge, score]  # evaluate: no deadline set (the Jobs' default hour is not applied)
    for step in (merge, score):
        record = RunState(tmp_path).load_step(step)
        assert record is not None and record.status == "dropped" and record.result["failed"] == "DeadlineExceeded"
    select = Step(1, Phase.SELECT)
    _started(local, 31, select)
    with pytest.raises(RunFailed, match="g0001-select ran past its deadline of 30 s"):
        local._enforce_deadlines(HungPool(select), RunView("demo", 2), Quiet())  # type: ignore[arg-type]


def test_a_step_that_finished_just_before_its_deadline_kill_keeps_its_record(tmp_path: Path) -> None:
    from acdc.engine.state import RunState

    RunState(tmp_path).init()
    local = runner(tmp_path, phases={"merge": {"activeDeadlineSeconds": 30}})
    merge = Step(1, Phase.MERGE, 0)
    RunState(tmp_path).save_step(merge, StepRecord("succeeded", {"model": "gen_0001_ind_00"}))  # what its phase saved
    _started(local, 31, merge)
    local._enforce_deadlines(HungPool(merge), RunView("demo", 2), Quiet())  # type: ignore[arg-type]
    assert local.records[merge.name].status == "succeeded"
