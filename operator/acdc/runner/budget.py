"""spec.budget for `acdc run`: the operator's stop rules (``acdc.phases.budget``) over a ledger
kept in the state folder, since a local run has no status object.

``budget.json`` holds what the operator keeps in status: when the run first started, the
GPU-hours its steps requested (the phase's ``spec.resources`` GPUs times the step's run
time), the coverage bookkeeping, the last generation accounted for, and, once a limit is
reached, why the run stopped. It is written atomically at each generation close, so a
resumed run reaches the same decision; a generation closed by a run killed before its
ledger write is accounted on resume from its committed records (its GPU time is lost: the
ledger under-counts rather than guess). Absent unless the spec sets a limit.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from acdc.atomic import read_json, write_json
from acdc.phases.budget import exhausted, track_coverage
from acdc.phases.dag import DagShape
from acdc.spec import CoevolutionRunSpec
from acdc.steps import Phase, Step, StepRecord

LEDGER = "budget.json"


def limited(spec: CoevolutionRunSpec) -> bool:
    budget = spec.budget
    return bool(budget.max_wall_seconds or budget.max_gpu_hours or budget.stop_when_coverage_stale_for)


def stopped(state: Path) -> dict[str, Any] | None:
    """{reason, message, generation} once the budget ended the run, else None."""
    path = state / LEDGER
    return read_json(path).get("stopped") if path.exists() else None


class BudgetLedger:
    def __init__(self, state: Path, spec: CoevolutionRunSpec) -> None:
        self.path, self.spec = state / LEDGER, spec
        self.data: dict[str, Any] = read_json(self.path) if self.path.exists() else {}
        self.data.setdefault("startTime", _now().isoformat())
        self.data.setdefault("closedThrough", -1)
        self.pending_gpu_hours = 0.0

    def step_ran(self, step: Step, seconds: float) -> None:
        """Add a finished step's requested GPU time (kept in memory until its generation closes)."""
        gpus = getattr(self.spec.resources, step.phase.resource_class).gpus
        self.pending_gpu_hours += gpus * seconds / 3600

    def close(self, shape: DagShape, generation: int, records: dict[str, StepRecord]) -> tuple[str, str] | None:
        """Account every generation up to ``generation`` (closed, its records committed) and
        save; (reason, message) when the budget stops the run after it."""
        stop = None
        for closed in range(int(self.data["closedThrough"]) + 1, generation + 1):
            closing = Step(closed, Phase.SYNC if shape.adapts(closed) else Phase.SELECT)
            coverage = records[closing.name].result.get("coverage")
            if coverage is not None:
                self.data["archive"] = {"coverage": coverage}
            track_coverage(self.data)
            self.data["closedThrough"] = closed
        self.data["gpuHours"] = round(float(self.data.get("gpuHours") or 0.0) + self.pending_gpu_hours, 6)
        self.pending_gpu_hours = 0.0
        if not shape.is_last(generation):
            stop = exhausted(self.spec.budget, self.data, _now())
        if stop is not None:
            self.data["stopped"] = {"reason": stop[0], "message": f"stopped after generation {generation}: {stop[1]}",
                                    "generation": generation}
        write_json(self.path, self.data)
        return stop


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)
