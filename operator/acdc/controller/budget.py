"""What a Job adds to the run budget: its GPU-hours. The stop decision itself is shared with
the local runner (``acdc.phases.budget``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from acdc.phases.budget import parse_time

GPU = "nvidia.com/gpu"


def job_gpu_hours(job: Mapping[str, Any]) -> float:
    """Requested GPUs times the Job's run time (start to completion), in hours."""
    status = job.get("status") or {}
    start, end = status.get("startTime"), status.get("completionTime")
    if not start or not end:
        return 0.0
    containers = (((job.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    gpus = sum(int(((c.get("resources") or {}).get("requests") or {}).get(GPU, 0)) for c in containers)
    return gpus * max((parse_time(end) - parse_time(start)).total_seconds(), 0.0) / 3600
