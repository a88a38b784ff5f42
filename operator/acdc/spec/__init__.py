"""The CoevolutionRun resource: pydantic spec and status, the single source of truth."""

from acdc.spec.changes import immutable_changes
from acdc.spec.manifest import CoevolutionRun, SpecInvalid, load_run, load_run_noting, parse_run
from acdc.spec.run import API_GROUP, API_VERSION, IMMUTABLE_FIELDS, KIND, PLURAL, CoevolutionRunSpec
from acdc.spec.status import CoevolutionRunStatus, Condition

__all__ = [
    "API_GROUP", "API_VERSION", "IMMUTABLE_FIELDS", "KIND", "PLURAL",
    "CoevolutionRun", "CoevolutionRunSpec", "CoevolutionRunStatus", "Condition",
    "SpecInvalid", "immutable_changes", "load_run", "load_run_noting", "parse_run",
]
