"""Run one phase step in this process: the body of `acdc phase` and of runner workers."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from acdc.atomic import write_termination_log
from acdc.engine.state import RunState
from acdc.phases.context import StepRejected, load_context, termination_message
from acdc.phases.dag import DagShape, require_step_of_run
from acdc.phases.registry import implementation
from acdc.steps import Step, StepRecord

log = logging.getLogger(__name__)


def quiet_libraries() -> None:
    """Phase logs are read by people: no per-tensor or per-request progress bars from
    transformers, the hub, datasets or lm-eval."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _no_tqdm_bars()
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _no_tqdm_bars() -> None:
    """Every tqdm bar of this process starts disabled. lm-eval passes ``disable=False`` itself
    (so ``TQDM_DISABLE``, a default only, and read when tqdm is first imported, cannot): 810
    requests per graded model drew three bars each. acdc draws none with tqdm.

    Bars nobody draws need no lock shared with other processes. tqdm's default is a
    multiprocessing RLock, a POSIX semaphore that the resource tracker of `acdc run` records
    for its spawned workers; a worker killed on Ctrl-C never released it, and the run ended
    with "There appear to be N leaked semaphore objects". A thread lock serves this process."""
    try:
        from tqdm.std import tqdm
    except ImportError:
        return
    if getattr(tqdm.__init__, "acdc_quiet", False):
        return
    draw = tqdm.__init__

    def quiet_init(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["disable"] = True
        draw(self, *args, **kwargs)

    quiet_init.acdc_quiet = True  # type: ignore[attr-defined]
    tqdm.__init__ = quiet_init
    tqdm.set_lock(threading.RLock())


def execute(state: Path, step: Step, run_path: Path | None = None, termination_log: Path | None = None,
            named: bool = False, given_up: frozenset[str] = frozenset()) -> StepRecord:
    """Run ``step`` against ``state`` and commit its record; a rejection is a dropped record.

    ``named``: the step comes from a command line (`acdc phase`), not from the DAG itself,
    so it is checked to be one of the run's steps first. ``given_up``: ``PhaseContext.given_up``."""
    quiet_libraries()
    ctx = load_context(state, step, run_path, given_up)
    if named:
        require_step_of_run(DagShape.from_spec(ctx.spec), step, RunState(state).load_steps())
    started = time.monotonic()
    try:
        result = implementation(step.phase)(ctx)
        record = StepRecord("succeeded", result)
    except StepRejected as rejected:
        log.warning("%s rejected: %s", step.name, rejected.reason)
        record = StepRecord("dropped", rejected.result)
    record = StepRecord(record.status, {**record.result, "seconds": round(time.monotonic() - started, 3)})
    RunState(state).save_step(step, record)
    if termination_log is not None:
        write_termination_log(termination_log, termination_message(record))
    return record
