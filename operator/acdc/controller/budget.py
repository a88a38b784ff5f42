"""The run budget: whether a run that just closed a generation should stop there.

A pure function of the spec's budget and the run's status, so the stop is level-triggered
like everything else: a restarted operator reaches the same decision from the same status.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from acdc.spec.run import BudgetSpec

GPU = "nvidia.com/gpu"


def job_gpu_hours(job: Mapping[str, Any]) -> float:
    """Requested GPUs times the Job's run time (start to completion), in hours."""
    status = job.get("status") or {}
    start, end = status.get("startTime"), status.get("completionTime")
    if not start or not end:
        return 0.0
    containers = (((job.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    gpus = sum(int(((c.get("resources") or {}).get("requests") or {}).get(GPU, 0)) for c in containers)
    return gpus * max((_time(end) - _time(start)).total_seconds(), 0.0) / 3600


def track_coverage(status: dict[str, Any]) -> None:
    """Count generations without a coverage improvement (call once per closed generation)."""
    coverage = (status.get("archive") or {}).get("coverage")
    best = status.get("bestCoverage")
    if coverage is not None and (best is None or coverage > best):
        status["bestCoverage"], status["coverageStaleGenerations"] = coverage, 0
    else:
        status["coverageStaleGenerations"] = int(status.get("coverageStaleGenerations") or 0) + 1


def exhausted(budget: BudgetSpec, status: Mapping[str, Any], now: datetime.datetime) -> tuple[str, str] | None:
    """(reason, message) when a limit is reached, else None."""
    started = status.get("startTime")
    if budget.max_wall_seconds and started:
        elapsed = (now - _time(started)).total_seconds()
        if elapsed >= budget.max_wall_seconds:
            return "WallTimeBudget", f"ran {elapsed:.0f} s of the {budget.max_wall_seconds} s budget"
    used = float(status.get("gpuHours") or 0.0)
    if budget.max_gpu_hours and used >= budget.max_gpu_hours:
        return "GpuBudget", f"used {used:.2f} of {budget.max_gpu_hours} GPU-hours"
    stale = int(status.get("coverageStaleGenerations") or 0)
    if budget.stop_when_coverage_stale_for and stale >= budget.stop_when_coverage_stale_for:
        return "CoverageStalled", f"coverage has not improved for {stale} generations"
    return None


def _time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
