"""benchmark: lm-eval over the archive a generation just committed (spec.evaluation.everyGenerations).

One step of the generation DAG, after select (or sync), so both executors run it where the
DAG says; it writes ``evaluation/results-gNNNN.json`` like the evaluation after the run
(the report's coverage-vs-generation curve reads those). Shard logs are kept per model and
benchmark, so a model already measured at an earlier generation is not run again, and a
step killed midway resumes from its finished shards.
"""

from __future__ import annotations

from typing import Any

from acdc.errors import StateError
from acdc.phases.context import PhaseContext


def run(ctx: PhaseContext) -> dict[str, Any]:
    from dataclasses import replace

    from acdc.evaluation.pipeline import apply_offline, evaluate_run
    from acdc.models.device import resolve_device
    from acdc.runner.snapshot import open_snapshot

    snapshot = open_snapshot(ctx.state)
    if snapshot.generation != ctx.step.generation:
        raise StateError(ctx.state, f"{ctx.step.name}: the newest committed generation is {snapshot.generation}, "
                         f"not {ctx.step.generation}")
    snapshot = replace(snapshot, run=ctx.run)  # the live spec, as every phase uses
    apply_offline(snapshot)
    results = evaluate_run(snapshot, device=resolve_device("auto").type)
    assert results is not None  # every shard ran in this step, so the summary was computed
    head = results.get("headline") or {}
    return {k: head[k] for k in ("benchmark", "size", "taskforce", "seeds", "best") if head.get(k) is not None}
