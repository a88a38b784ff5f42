"""spec.budget under `acdc run`: the operator's stop rules (acdc.phases.budget) over a ledger in
the state folder; the run ends Succeeded with the reason, and stays ended on a second run."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from acdc.phases.dag import DagShape
from acdc.runner.budget import LEDGER, BudgetLedger, stopped
from acdc.spec import parse_run
from acdc.steps import Phase, Step, StepRecord
from tests.runner.conftest import MINI, acdc_run


def mini(**budget) -> dict:
    return {**MINI, "spec": {**MINI["spec"], "budget": budget}}


def test_wall_time_budget_stops_the_local_run_after_a_whole_generation(mini_run: Path, tmp_path: Path) -> None:
    mini_run.write_text(yaml.safe_dump(mini(maxWallSeconds=1)))
    state = tmp_path / "state"
    done = acdc_run(str(mini_run), "--state", str(state))
    assert done.returncode == 0, done.stderr
    assert "WallTimeBudget" in done.stdout and "stopped after generation 0" in done.stdout
    assert stopped(state)["generation"] == 0
    records = {path.stem for path in (state / "steps").rglob("*.json")}
    assert any(name.startswith("g0000-select") for name in records), records
    assert not any(name.startswith("g0001") for name in records), records  # nothing past the stop
    again = acdc_run(str(mini_run), "--state", str(state))
    assert again.returncode == 0 and "already finished" in again.stdout


def test_the_ledger_accounts_missed_generations_and_stops_on_stale_coverage(tmp_path: Path) -> None:
    spec = parse_run(mini(stopWhenCoverageStaleFor=1), "mini").spec
    shape = DagShape.from_spec(spec)
    records = {Step(g, Phase.SYNC if shape.adapts(g) else Phase.SELECT).name: StepRecord("succeeded", {"coverage": 0.5})
               for g in (0, 1)}
    ledger = BudgetLedger(tmp_path, spec)
    ledger.step_ran(Step(0, Phase.MERGE, 0), 1800.0)  # merge requests 1 GPU by default: half an hour
    stop = ledger.close(shape, 1, records)  # generation 0 improves coverage, generation 1 does not
    assert stop is not None and stop[0] == "CoverageStalled"
    saved = json.loads((tmp_path / LEDGER).read_text())
    assert saved["gpuHours"] == 0.5 and saved["closedThrough"] == 1 and saved["stopped"]["generation"] == 1
    assert BudgetLedger(tmp_path, spec).data["stopped"] == saved["stopped"]  # a resumed run reads it back
