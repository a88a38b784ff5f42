"""The run budget: wall time, GPU-hours as the Jobs requested them, stalled coverage."""

from __future__ import annotations

import datetime

from acdc.controller.budget import job_gpu_hours
from acdc.phases.budget import exhausted, track_coverage
from acdc.spec.run import BudgetSpec

NOW = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)


def gpu_job(gpus: int, start: str, end: str | None) -> dict:
    container = {"resources": {"requests": {"cpu": "1", "nvidia.com/gpu": str(gpus)}}}
    return {"spec": {"template": {"spec": {"containers": [container]}}},
            "status": {"startTime": start, **({"completionTime": end} if end else {})}}


def test_gpu_hours_are_requested_gpus_times_run_time() -> None:
    assert job_gpu_hours(gpu_job(2, "2026-01-01T10:00:00Z", "2026-01-01T11:30:00Z")) == 3.0
    assert job_gpu_hours(gpu_job(2, "2026-01-01T10:00:00Z", None)) == 0.0
    assert job_gpu_hours({"spec": {}, "status": {}}) == 0.0


def test_a_failed_job_counts_until_its_failed_condition() -> None:
    """A Job gets a completionTime only when it succeeds: a dropped child held its GPUs too."""
    job = gpu_job(8, "2026-01-01T10:00:00Z", None)
    job["status"]["conditions"] = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                    "lastTransitionTime": "2026-01-01T13:00:00Z"}]
    assert job_gpu_hours(job) == 24.0


def test_each_limit_names_its_reason_and_no_limit_never_stops() -> None:
    status = {"startTime": "2026-01-01T11:00:00Z", "gpuHours": 5.0, "coverageStaleGenerations": 2}
    assert exhausted(BudgetSpec(), status, NOW) is None
    assert exhausted(BudgetSpec(max_wall_seconds=3600), status, NOW)[0] == "WallTimeBudget"
    assert exhausted(BudgetSpec(max_wall_seconds=3601), status, NOW) is None
    assert exhausted(BudgetSpec(max_gpu_hours=5), status, NOW)[0] == "GpuBudget"
    assert exhausted(BudgetSpec(stop_when_coverage_stale_for=2), status, NOW)[0] == "CoverageStalled"
    assert exhausted(BudgetSpec(stop_when_coverage_stale_for=3), status, NOW) is None


def test_coverage_staleness_resets_on_improvement() -> None:
    status: dict = {}
    for coverage, stale in [(0.5, 0), (0.5, 1), (0.4, 2), (0.6, 0)]:
        status["archive"] = {"coverage": coverage}
        track_coverage(status)
        assert status["coverageStaleGenerations"] == stale
