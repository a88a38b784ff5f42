"""The local executor: drive the generation DAG with a pool of worker processes.

It is the operator's twin on one machine: it asks ``acdc.phases.dag`` what may run,
runs each step with the same phase code a Job would run, and remembers only what the
phases committed to the state folder. Killing it at any instant loses at most the steps
in flight, which the next start runs again (phases are idempotent).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from acdc import metrics
from acdc.atomic import sweep_staging_tree
from acdc.engine.state import RunState
from acdc.errors import EXIT_INFRASTRUCTURE, Interrupted, RunFailed
from acdc.phases.dag import DagShape, first_incomplete_generation
from acdc.phases.dag_actions import SKIPPED, give_up, next_actions
from acdc.phases.faults import Fault
from acdc.phases.integrity import require_committed
from acdc.phases.records import lost_outputs
from acdc.runner.budget import BudgetLedger, limited
from acdc.runner.pool import WorkerPool
from acdc.runner.prepare import resume_command
from acdc.runner.progress import Progress, RunView
from acdc.spec import CoevolutionRunSpec
from acdc.spec.run import JobPolicy, PhaseResources
from acdc.steps import Step, StepRecord

log = logging.getLogger(__name__)


class RunStopped(RunFailed):
    """A step hit an infrastructure fault (full disk, damaged input, lost worker): the run stops
    at once, the step is not recorded, and `acdc run` resumes it once the cause is fixed."""

    exit_code = EXIT_INFRASTRUCTURE


@dataclass
class RunnerOptions:
    workers: int
    live: bool | None = None
    namespace: str = "local"


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


class LocalRunner:
    def __init__(self, state: Path, run_name: str, spec: CoevolutionRunSpec, options: RunnerOptions) -> None:
        self.state = state
        self.name = run_name
        self.spec = spec
        self.options = options
        self.shape = DagShape.from_spec(spec)
        self.records: dict[str, StepRecord] = {}
        self.attempts: Counter[str] = Counter()
        self._stop: int | None = None
        self._folder: int | None = None
        self._ledger: BudgetLedger | None = None
        self._launched: dict[str, float] = {}
        self._first_launched: dict[str, float] = {}

    def _folder_replaced(self) -> bool:
        """Whether the state folder was deleted (and perhaps recreated) under the live run.

        The runner holds the folder open: a deleted folder then has no links, and its inode
        number cannot be reused by a new folder of the same name while we hold it.
        """
        if self._folder is None:
            return False
        try:
            here, ours = os.stat(self.state), os.fstat(self._folder)
        except OSError:
            return True
        return ours.st_nlink == 0 or (here.st_dev, here.st_ino) != (ours.st_dev, ours.st_ino)

    def _request_stop(self, signum: int, _frame: object) -> None:
        self._stop = signum

    def first_incomplete_generation(self) -> int:
        return first_incomplete_generation(self.shape, self.records)

    def run(self) -> None:
        """Run until the last generation completes; raises RunFailed or Interrupted."""
        swept = sweep_staging_tree(self.state)  # safe: we hold the state lock
        if swept:
            log.info("removed %d partial writes left by an interrupted run", swept)
        self.records = RunState(self.state).load_steps()
        require_committed(self.state, self.shape)  # damage to what the last commit points at stops the run here
        generation = self.first_incomplete_generation()
        self._redo_lost(generation)
        if limited(self.spec):
            self._ledger = BudgetLedger(self.state, self.spec)
            # generations closed before a kill that beat the ledger's write are accounted now
            if self._ledger.data.get("stopped") or (generation and self._ledger.close(self.shape, generation - 1,
                                                                                      self.records)):
                return
        self._folder = os.open(self.state, os.O_RDONLY | os.O_DIRECTORY)
        view = RunView(self.name, self.shape.generations, generation=generation)
        view.absorb(self.records)
        previous = {sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        pool = WorkerPool(self.state, self.options.workers, threads_per_worker=1)  # the workers are the parallelism
        try:
            with Progress(view, self.options.live) as progress:
                self._loop(pool, view, progress, generation)
        finally:
            if pool.running:
                pool.kill_all()  # interrupted or failed: in-flight steps are redone on resume
            pool.close()
            os.close(self._folder)
            self._folder = None
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _redo_lost(self, generation: int) -> None:
        """Forget the records of the steps whose outputs were lost after they succeeded, so the
        DAG runs them again (``lost_outputs``); select stopped the run on them (exit 75) rather
        than leave a model out."""
        state = RunState(self.state)
        for step in lost_outputs(state, generation, self.records):
            log.warning("%s succeeded, but an output it wrote is gone or damaged: running it again", step.name)
            state.forget_step(step)
            del self.records[step.name]

    def _loop(self, pool: WorkerPool, view: RunView, progress: Progress, generation: int) -> None:
        while True:
            if self._folder_replaced():
                raise RunStopped(f"{self.state} was deleted or replaced while the run was live; "
                                 "steps in flight were stopped and nothing was recorded")
            if self._stop is not None:
                pool.kill_all()
                raise self._interrupted(self._stop)
            running = {step.name for step in pool.running}
            actions = next_actions(self.shape, generation, self.records, running)
            for step in actions.skip:  # transitive: merge -> evaluate -> score
                self._commit(step, SKIPPED, progress)
            if actions.finish:
                return
            if actions.close:
                progress.message(f"generation {generation} complete")
                stop = self._ledger.close(self.shape, generation, self.records) if self._ledger else None
                if stop is not None:
                    progress.message(f"stopped after generation {generation} by spec.budget: {stop[1]} ({stop[0]})")
                    return
                generation += 1
                view.generation, view.generations_timed = generation, view.generations_timed + 1
                continue
            late = [step for step in actions.launch if self._overdue(step) is not None]
            for step in late:  # a retry whose first attempt began more than its deadline ago
                self._give_up_late(step, progress)
            if late:
                continue
            for step in actions.launch[: pool.idle]:
                pool.submit(step)
                self._launched[step.name] = time.monotonic()
                self._first_launched.setdefault(step.name, self._launched[step.name])
            if not pool.running:
                raise RunFailed(f"generation {generation} cannot progress (no step is ready); the state folder may be damaged")
            self._update_view(view, pool, generation)
            metrics.set_steps_in_flight(self.options.namespace, self.name, pool.running)
            progress.refresh()
            for outcome in pool.wait(timeout=0.5):
                started = self._launched.pop(outcome.step.name, None)
                if self._ledger is not None and started is not None:
                    self._ledger.step_ran(outcome.step, time.monotonic() - started)
                if outcome.record is not None:
                    self._finished(outcome.step, outcome.record, view, progress)
                else:
                    self._failed(outcome.step, outcome.error or "unknown error", outcome.fault, progress)
            self._enforce_deadlines(pool, view, progress)

    def _interrupted(self, signum: int) -> Interrupted:
        return Interrupted(f"stopped by {signal.Signals(signum).name}; run {resume_command(self.state)} to resume")

    def _finished(self, step: Step, record: StepRecord, view: RunView, progress: Progress) -> None:
        """A record the step's phase committed itself."""
        self.records[step.name] = record
        metrics.record_step(self.options.namespace, self.name, step, record)
        if record.status == "succeeded":
            view.absorb({step.name: record})
        progress.step_finished(step, record)

    def _policy(self, step: Step) -> JobPolicy:
        return self.spec.phases.resolve(step.phase.value, self._resources(step))

    def _resources(self, step: Step) -> PhaseResources:
        resources: PhaseResources = getattr(self.spec.resources, step.phase.resource_class)
        return resources

    def _overdue(self, step: Step) -> int | None:
        """The deadline ``step`` has run past, over all its attempts as a Job's, if it has one."""
        deadline = self.spec.phases.set_deadline(step.phase.value, self._resources(step))
        first = self._first_launched.get(step.name)
        return deadline if deadline is not None and first is not None and time.monotonic() - first > deadline else None

    def _enforce_deadlines(self, pool: WorkerPool, view: RunView, progress: Progress) -> None:
        """A step past the ``activeDeadlineSeconds`` the run file sets has its worker killed and
        is given up, as the operator's Job would be. Without it a hung step (a deadlock, a stuck
        read) stalled the run for good."""
        for step in pool.running:
            if self._overdue(step) is None:
                continue
            pool.cancel(step)
            started = self._launched.pop(step.name)
            if self._ledger is not None:
                self._ledger.step_ran(step, time.monotonic() - started)
            saved = RunState(self.state).load_step(step)  # it may have finished just before the kill
            if saved is not None:
                self._finished(step, saved, view, progress)
            else:
                self._give_up_late(step, progress)

    def _give_up_late(self, step: Step, progress: Progress) -> None:
        """Dropped if it is a per-model step, else the run fails."""
        message = (f"ran past its deadline of {self._overdue(step)} s (spec.phases.{step.phase.value}."
                   f"activeDeadlineSeconds, else spec.resources.{step.phase.resource_class}'s)")
        metrics.observe_step_failure(self.options.namespace, self.name, step.phase, retried=False)
        record = give_up(step, "DeadlineExceeded", message)
        if record is None:
            raise RunFailed(f"{step.name} {message}")
        progress.message(f"{step.name} {message}")
        self._commit(step, record, progress)

    def _failed(self, step: Step, error: str, fault: Fault | None, progress: Progress) -> None:
        """Retry, drop or stop, by whose fault it was (``acdc.phases.faults``)."""
        if fault is Fault.INFRASTRUCTURE and self._stop is not None:  # a worker the same signal reached first
            raise self._interrupted(self._stop)
        if fault is Fault.INFRASTRUCTURE:
            metrics.observe_step_failure(self.options.namespace, self.name, step.phase, retried=False)
            log.debug("%s failure detail:\n%s", step.name, error)
            raise RunStopped(f"{step.name} stopped by a fault that is not its own: {error.splitlines()[0]}; "
                             f"nothing was dropped: fix the cause (a setting, the machine, or a damaged or missing file: "
                             f"`acdc verify {self.state}` says which, and how to recompute it) and run "
                             f"{resume_command(self.state)} to resume")
        self.attempts[step.name] += 1
        limit = self._policy(step).backoff_limit
        retry = self.attempts[step.name] <= limit
        metrics.observe_step_failure(self.options.namespace, self.name, step.phase, retried=retry)
        progress.message(f"{step.name} failed (attempt {self.attempts[step.name]}): {error.splitlines()[0]}")
        log.debug("%s failure detail:\n%s", step.name, error)
        if retry:
            return  # not recorded, so the DAG offers it again
        record = give_up(step, "RetriesExhausted", error)
        if record is not None:
            self._commit(step, record, progress)
            return
        raise RunFailed(f"{step.name} failed after {limit + 1} attempts: {error.splitlines()[0]}")

    def _commit(self, step: Step, record: StepRecord, progress: Progress) -> None:
        RunState(self.state).save_step(step, record)
        self.records[step.name] = record
        metrics.record_step(self.options.namespace, self.name, step, record)
        progress.step_finished(step, record)

    def _update_view(self, view: RunView, pool: WorkerPool, generation: int) -> None:
        prefix = f"g{generation:04d}-"
        view.running = sorted(step.name.removeprefix(prefix) for step in pool.running)
        children = self.shape.children(generation) + self.shape.seed_slots(generation)
        view.children_total = children
        view.children_done = sum(1 for name in self.records if name.startswith(prefix + "score-"))
