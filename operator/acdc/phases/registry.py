"""Phase name -> implementation. Modules are imported on use: `acdc phase plan` must not
pay for torch, and `acdc phase merge` must not pay for the sandbox."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from acdc.phases.context import PhaseContext
from acdc.steps import Phase

PhaseFn = Callable[[PhaseContext], dict[str, Any]]

_IMPLEMENTATIONS = {
    Phase.INIT: "acdc.phases.init:run",
    Phase.PLAN: "acdc.phases.plan:run",
    Phase.MERGE: "acdc.phases.merge:run",
    Phase.EVALUATE: "acdc.phases.evaluate:run",
    Phase.REEVALUATE: "acdc.phases.evaluate:run_archive",
    Phase.SCORE: "acdc.phases.score:run",
    Phase.RESCORE: "acdc.phases.score:run_archive",
    Phase.SELECT: "acdc.phases.select:run",
    Phase.TASKS: "acdc.phases.tasks:run",
    Phase.SYNC: "acdc.phases.select:run_sync",
    # lm-eval over the archive: it lives with the evaluation it drives, which itself builds
    # on phase helpers (run_models, services), so it cannot sit in this package.
    Phase.BENCHMARK: "acdc.evaluation.benchmark_phase:run",
}


def implementation(phase: Phase) -> PhaseFn:
    module, _, attr = _IMPLEMENTATIONS[phase].partition(":")
    function: PhaseFn = getattr(importlib.import_module(module), attr)
    return function
