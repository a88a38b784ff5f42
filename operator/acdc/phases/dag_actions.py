"""What an executor does next with a generation: the one decision both executors share.

The local runner (worker processes) and the operator (Jobs) observe different things
(finished subprocesses, finished Jobs) but must make the same decision from them, or a
run resumed under the other executor would take a different path. So each executor only
observes and acts; ``next_actions`` decides:

- ``skip``: per-model steps whose input was dropped; record each as ``SKIPPED``.
- ``launch``: steps whose inputs are all finished and that are not running already.
- ``close``: the generation's closing step succeeded; record its summary, move on.
- ``finish``: that generation was the last one; the run is done.
- ``stalled``: nothing runs, nothing can start, the generation is not closed: the
  records are damaged (a state-folder problem, never a normal outcome).

A stage after the last generation (a benchmark, say) is one more "generation" whose
``steps_of`` lists the stage's steps, with ``DagShape.is_last`` moved past it: this
function needs no change for it.

``give_up`` is the other shared rule: what a step that failed after its retries becomes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from acdc.phases.dag import DagShape, Done, generation_complete, ready, run_finished, skipped
from acdc.steps import Step, StepRecord

SKIPPED = StepRecord("dropped", {"skipped": "an input of this step was dropped"})
"""The record of a step never run because a per-model input of it was dropped."""

MESSAGE_LIMIT = 300


@dataclass(frozen=True)
class NextActions:
    skip: tuple[Step, ...] = ()
    launch: tuple[Step, ...] = ()
    close: bool = False
    finish: bool = False
    stalled: bool = False


def next_actions(shape: DagShape, generation: int, done: Done, running: Collection[str] = ()) -> NextActions:
    """The next actions for ``generation`` given the finished steps and the running ones.

    ``done`` holds at least this generation's records; ``running`` the names of steps in
    flight (started and not finished). Skips are applied before anything else is
    decided, so a caller that records ``skip`` and acts on the rest needs no second call.
    """
    lost = tuple(skipped(shape, generation, done))
    view = {**done, **{step.name: SKIPPED for step in lost}}
    if generation_complete(shape, generation, view):
        return NextActions(skip=lost, close=True, finish=run_finished(shape, generation, view))
    startable = ready(shape, generation, view)  # running steps are among them: not finished, inputs done
    launch = tuple(step for step in startable if step.name not in running)
    return NextActions(skip=lost, launch=launch, stalled=not startable)


def give_up(step: Step, reason: str, message: str) -> StepRecord | None:
    """A step that failed after its retries: a per-model step is dropped with the reason
    (its dependants are then skipped); None for any other step, whose failure fails the run."""
    if not step.phase.droppable:
        return None
    first_line = next(iter(message.strip().splitlines()), "")
    return StepRecord("dropped", {"failed": reason, "message": first_line[:MESSAGE_LIMIT]})
