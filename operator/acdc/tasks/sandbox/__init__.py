"""Sandboxed execution of untrusted task code (see pool.py for the trusted side)."""

from acdc.tasks.sandbox.limits import SandboxLimits
from acdc.tasks.sandbox.pool import SandboxPool, ScoreItem
from acdc.tasks.sandbox.results import Instance, Materialized, ResultKind, ScoreResult

__all__ = ["Instance", "Materialized", "ResultKind", "SandboxLimits", "SandboxPool",
           "ScoreItem", "ScoreResult"]
