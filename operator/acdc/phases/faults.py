"""Whose fault a failed step is, decided by the exception's type (never its message).

Three answers, one exit code each for `acdc phase`, so the local runner and the operator
(which sees only a Job's exit code) treat every failure the same way:

- REJECTED (exit 3): the step worked and found its subject bad (a gibberish child). The
  step is recorded dropped at once; a re-run would give the same answer.
- INFRASTRUCTURE (exit 75): the step's surroundings failed: no space, an unreadable or
  damaged input, an OS error, a lost worker, a state folder locked by another command, a
  setting the step cannot work with (any ``UserError`` but a ``UsageError``, a wrong call:
  the vllm backend on a machine without vllm, a seed path that holds no model). Nothing is recorded; the run stops with a
  clear message and the step runs again on resume, exactly as after a kill. Dropping the
  step instead would change the run's science because a disk filled up, or drop every
  model one by one for a setting that is wrong for all of them.
- STEP (exit 1): anything else the step raised (mergekit refusing a recipe). It is retried
  up to ``backoffLimit`` times; a per-model step that keeps failing is the model's own
  failure and is dropped, any other step fails the run.
"""

from __future__ import annotations

from enum import StrEnum

from acdc.errors import EXIT_INFRASTRUCTURE, InfrastructureFault, UsageError, UserError
from acdc.phases.context import EXIT_REJECTED, StepRejected

EXIT_STEP_FAILED = 1


class Fault(StrEnum):
    REJECTED = "rejected"
    INFRASTRUCTURE = "infrastructure"
    STEP = "step"

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES[self]


_EXIT_CODES = {Fault.REJECTED: EXIT_REJECTED, Fault.INFRASTRUCTURE: EXIT_INFRASTRUCTURE, Fault.STEP: EXIT_STEP_FAILED}


def _infrastructure_types() -> tuple[type[BaseException], ...]:
    """OS-level, state-damage and setting errors (StateError and StateBusy are UserErrors);
    safetensors reports a failed read or write (ENOSPC included) as its own SafetensorError,
    which no subject of a step can cause."""
    types: tuple[type[BaseException], ...] = (InfrastructureFault, UserError, OSError, MemoryError, EOFError)
    try:
        from safetensors import SafetensorError
    except ImportError:  # pragma: no cover - every image has safetensors
        return types
    return (*types, SafetensorError)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and what it was explicitly raised from (phases wrap library errors with
    ``raise ... from``); implicit context is not followed: an error raised while handling an
    expected FileNotFoundError is not a disk problem."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen) and len(seen) < 32:
        seen.append(current)
        current = current.__cause__
    return seen


def classify(exc: BaseException) -> Fault:
    chain = _chain(exc)
    if isinstance(exc, StepRejected):
        return Fault.REJECTED
    if isinstance(exc, UsageError):  # a wrong call: `acdc phase` answers it as the CLI does (exit 2)
        return Fault.STEP
    infrastructure = _infrastructure_types()
    if any(isinstance(link, infrastructure) for link in chain):
        return Fault.INFRASTRUCTURE
    return Fault.STEP


def fault_of_exit_code(code: int | None) -> Fault | None:
    """The fault a finished `acdc phase` reported; None for success or an unknown code."""
    return next((fault for fault, value in _EXIT_CODES.items() if value == code), None)
