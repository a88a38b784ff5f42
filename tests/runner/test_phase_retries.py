"""The local runner retries a failed step as often as its phase's policy says (spec.phases), as
the operator's Job backoffLimit does: the one resolver, ``PhasesSpec.resolve``, feeds both."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from acdc.errors import RunFailed
from acdc.phases.faults import Fault
from acdc.runner.executor import LocalRunner, RunnerOptions
from acdc.spec import parse_run
from acdc.steps import Phase, Step
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


class HungPool:
    """Steps that never finish (a deadlock, a stuck read): what the deadline is for."""

    def __init__(self, *steps: Step) -> None:
        self.running = list(steps)
        self.cancelled: list[Step] = []

    def cancel(self, step: Step) -> None:
        self.running.remove(step)
        self.cancelled.append(step)


def test_a_step_past_its_deadline_is_given_up_as_the_operators_job_would_be(tmp_path: Path) -> None:
    """activeDeadlineSeconds over all attempts: a per-model step is dropped and its worker
    killed; a step the run cannot do without fails the run. An audit's stopped worker had
    the local run wait, silent, for as long as anyone watched."""
    from acdc.engine.state import RunState

    RunState(tmp_path).init()
    local = runner(tmp_path, phases={"merge": {"activeDeadlineSeconds": 30}, "select": {"activeDeadlineSeconds": 30}})
    merge, evaluate, select = Step(1, Phase.MERGE, 0), Step(1, Phase.EVALUATE, 1), Step(1, Phase.SELECT)
    pool = HungPool(merge, evaluate)
    local._launched = {merge.name: 0.0, evaluate.name: 0.0}
    local._first_launched = {merge.name: time.monotonic() - 31, evaluate.name: time.monotonic() - 31}
    local._enforce_deadlines(pool, Quiet())  # type: ignore[arg-type]
    assert pool.cancelled == [merge]  # evaluate keeps its class's deadline (an hour by default)
    record = RunState(tmp_path).load_step(merge)
    assert record is not None and record.status == "dropped" and record.result["failed"] == "DeadlineExceeded"
    local._launched[select.name], local._first_launched[select.name] = 0.0, time.monotonic() - 31
    with pytest.raises(RunFailed, match="g0001-select ran past its deadline of 30 s"):
        local._enforce_deadlines(HungPool(select), Quiet())  # type: ignore[arg-type]
