"""The run budget: whether a run that just closed a generation should stop there.

Pure functions of the spec's budget and a status-like ledger (``startTime``, ``gpuHours``,
``archive.coverage``, ``bestCoverage``, ``coverageStaleGenerations``). The operator keeps the
ledger in the run's status, the local runner in the state folder (``acdc.runner.budget``):
both call these, so the same run stops at the same point under either, and a restarted
operator or a resumed `acdc run` reaches the same decision from the same ledger.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from acdc.spec.run import BudgetSpec


def track_coverage(ledger: dict[str, Any]) -> None:
    """Count generations without a coverage improvement (call once per closed generation)."""
    coverage = (ledger.get("archive") or {}).get("coverage")
    best = ledger.get("bestCoverage")
    if coverage is not None and (best is None or coverage > best):
        ledger["bestCoverage"], ledger["coverageStaleGenerations"] = coverage, 0
    else:
        ledger["coverageStaleGenerations"] = int(ledger.get("coverageStaleGenerations") or 0) + 1


def exhausted(budget: BudgetSpec, ledger: Mapping[str, Any], now: datetime.datetime) -> tuple[str, str] | None:
    """(reason, message) when a limit is reached, else None."""
    started = ledger.get("startTime")
    if budget.max_wall_seconds and started:
        elapsed = (now - parse_time(started)).total_seconds()
        if elapsed >= budget.max_wall_seconds:
            return "WallTimeBudget", f"ran {elapsed:.0f} s of the {budget.max_wall_seconds} s budget"
    used = float(ledger.get("gpuHours") or 0.0)
    if budget.max_gpu_hours and used >= budget.max_gpu_hours:
        return "GpuBudget", f"used {used:.2f} of {budget.max_gpu_hours} GPU-hours"
    stale = int(ledger.get("coverageStaleGenerations") or 0)
    if budget.stop_when_coverage_stale_for and stale >= budget.stop_when_coverage_stale_for:
        return "CoverageStalled", f"coverage has not improved for {stale} generations"
    return None


def parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
