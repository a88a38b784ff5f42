"""What a Job adds to the run budget: its GPU-hours. The stop decision itself is shared with
the local runner (``acdc.phases.budget``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from acdc.controller.job_outcome import finished_condition
from acdc.phases.budget import parse_time

GPU = "nvidia.com/gpu"


def job_gpu_hours(job: Mapping[str, Any]) -> float:
    """Requested GPUs times the Job's run time (start to its end), in hours. A Job gets a
    completionTime only when it succeeds; a failed one (a dropped child that held its GPUs
    through every retry) ended when its Failed condition was set."""
    status = job.get("status") or {}
    start = status.get("startTime")
    end = status.get("completionTime") or (finished_condition(job) or {}).get("lastTransitionTime")
    if not start or not end:
        return 0.0
    containers = (((job.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    gpus = sum(int(((c.get("resources") or {}).get("requests") or {}).get(GPU, 0)) for c in containers)
    return gpus * max((parse_time(end) - parse_time(start)).total_seconds(), 0.0) / 3600
