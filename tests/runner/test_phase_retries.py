"""The local runner retries a failed step as often as its phase's policy says (spec.phases), as
the operator's Job backoffLimit does: the one resolver, ``PhasesSpec.resolve``, feeds both."""

from __future__ import annotations

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
