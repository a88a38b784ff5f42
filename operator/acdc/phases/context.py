"""What every phase command receives, and how it reports.

A phase reads the run spec and earlier steps' outputs from the state folder, writes its
own outputs atomically, and finally commits ``steps/<step>.json``. That record is the
step's commit point for the local runner; the operator gets the same small result from
the Job's termination message. Exit codes: 0 done, 3 rejected (the step is dropped and
not retried, e.g. a gibberish child), anything else failed (retried by the executor).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from acdc.engine.state import RunState
from acdc.errors import InfrastructureFault, UsageError, UserError
from acdc.spec import CoevolutionRun, CoevolutionRunSpec, load_run
from acdc.steps import Phase, Step, StepRecord

T = TypeVar("T")

EXIT_REJECTED = 3
TERMINATION_MESSAGE_LIMIT = 4096  # bytes the kubelet keeps from /dev/termination-log
FAULT_CAUSE_CHARS = 300
"""How much of an infrastructure fault's cause a termination message carries: its JSON is ASCII
(``json.dumps`` escapes the rest), at most 12 bytes a character (a character outside the BMP is
two ``\\uXXXX`` escapes), so 300 characters always fit TERMINATION_MESSAGE_LIMIT whole; the
kubelet never cuts the message, let alone inside a multi-byte character."""


class StepRejected(Exception):
    """The step ran correctly and decided its subject must be dropped (not a failure)."""

    def __init__(self, reason: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.result = {"rejected": reason, **(result or {})}


@dataclass(frozen=True)
class PhaseContext:
    state: Path
    run: CoevolutionRun
    step: Step
    given_up: frozenset[str] = frozenset()
    """Steps of this generation that ended without success and whose record is not on the volume:
    the operator keeps the record of a step it gave up or skipped in the run's status, and tells
    the Jobs that read those steps' outputs (``acdc phase --given-up``). The local runner commits
    every record to the volume, so for it this is empty. Any other step without outputs or a
    record lost them (``records.step_scores``)."""

    @property
    def spec(self) -> CoevolutionRunSpec:
        return self.run.spec

    @property
    def run_name(self) -> str:
        return self.run.metadata.name

    @property
    def index(self) -> int:
        """Which child or archive member a per-model step (merge, evaluate, score...) works on."""
        if self.step.index is None:
            raise UsageError(f"{self.step.name}: phase {self.step.phase.value} works on one model; pass --index")
        return self.step.index

    def pick(self, items: Sequence[T]) -> T:
        """The model this per-model step works on: ``items[--index]``, refused when out of range
        (a negative index would otherwise wrap, and the step write a record under a wrong name)."""
        index = self.index
        if not 0 <= index < len(items):
            raise UsageError(f"{self.step.name}: --index {index} is out of range: generation "
                            f"{self.step.generation} has {len(items)} models for this phase")
        return items[index]


def state_of(ctx: PhaseContext) -> RunState:
    return RunState(ctx.state)


def load_context(state: Path, step: Step, run_path: Path | None = None,
                 given_up: frozenset[str] = frozenset()) -> PhaseContext:
    """Spec from ``run_path`` (the operator mounts the live spec) or the state's run.yaml.

    A spec a phase cannot read is its surroundings' fault (a damaged state, a lost mount),
    never the step's: the step must not be dropped for it.
    """
    try:
        run = load_run(run_path or RunState(state).run_file)
    except UserError as exc:
        raise InfrastructureFault(f"cannot read the run's spec: {exc}") from exc
    if step.phase is not Phase.INIT:
        RunState(state).check_layout()
    return PhaseContext(state=state, run=run, step=step, given_up=given_up)


def termination_message(record: StepRecord) -> str:
    """The record as compact JSON, trimmed to what the kubelet keeps."""
    text = json.dumps(record.to_dict(), separators=(",", ":"))
    if len(text.encode()) > TERMINATION_MESSAGE_LIMIT:
        text = json.dumps({"status": record.status, "result": {"truncated": True}})
    return text


def fault_message(cause: str) -> str:
    """The termination message of a step stopped by an infrastructure fault (exit 75):
    ``{"fault": cause}``, the cause cut to FAULT_CAUSE_CHARS. It has no ``status``, so it never
    reads as a step's record; the operator shows the cause in the run's condition instead of
    leaving it in the pod's log."""
    return json.dumps({"fault": cause[:FAULT_CAUSE_CHARS]})
